// Package setup is what both example programs share: flags for the Temporal connection and the
// keys, and one function that turns them into a client with the codec, the failure converter, the
// signal interceptor and the sealed warrant header.
package setup

import (
	"flag"
	"fmt"
	"log"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/headers"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// WarrantHeader is the header the examples seal end to end, in every language.
const WarrantHeader = "warrant"

// Flags are the connection and key settings.
type Flags struct {
	Address           string
	Namespace         string
	Keyring           string
	KMSEndpoint       string
	KMSKeyConfig      string
	Region            string
	RequireEncryption bool
	KeyHierarchy      string
	LegacyKeys        string
}

// Register adds the flags to fs, with defaults from the environment.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Address, "address", env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fs.StringVar(&f.Namespace, "namespace", env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fs.StringVar(&f.Keyring, "keyring", os.Getenv("TEMPORAL_ENVELOPE_KEYRING"), "local keyring file (env TEMPORAL_ENVELOPE_KEYRING; default ~/.temporal-envelope/keyring.json unless --kms-key-config is given)")
	fs.StringVar(&f.KMSKeyConfig, "kms-key-config", "", "AWS KMS key config file (temporal-envelope-kms-keys/v1); its primary wraps new data keys")
	fs.StringVar(&f.KMSEndpoint, "kms-endpoint", "", "AWS-compatible KMS endpoint URL (default: AWS's own)")
	fs.StringVar(&f.Region, "region", env("AWS_REGION", "us-east-1"), "AWS region for KMS keys given without an ARN (env AWS_REGION)")
	fs.BoolVar(&f.RequireEncryption, "require-encryption", false, "refuse plaintext payloads (PLAINTEXT_REJECTED)")
	fs.StringVar(&f.KeyHierarchy, "key-hierarchy", env("TEMPORAL_ENVELOPE_KEY_HIERARCHY", "per-workflow"), "how sealing makes data keys: per-workflow (format v1) or branch (format v2); opening reads both (env TEMPORAL_ENVELOPE_KEY_HIERARCHY)")
	fs.StringVar(&f.LegacyKeys, "legacy-keys", os.Getenv("TEMPORAL_ENVELOPE_LEGACY_KEYS"), "legacy key file (keys import-legacy): also open payloads of Temporal's samples encryption codec (env TEMPORAL_ENVELOPE_LEGACY_KEYS)")
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Providers builds the key providers: AWS KMS when --kms-key-config is given (credentials from the
// default chain), the local keyring when --keyring is given or KMS is not; KMS first when both, so
// it wraps new keys and the keyring only opens older payloads.
func (f *Flags) Providers() ([]keys.KeyProvider, error) {
	var out []keys.KeyProvider
	if f.KMSKeyConfig != "" {
		ring, err := keys.AwsKmsKeyringFromConfigFile(f.KMSKeyConfig, keys.AwsKmsOptions{Region: f.Region, Endpoint: f.KMSEndpoint}, 0, func(m string) { log.Print(m) })
		if err != nil {
			return nil, err
		}
		out = append(out, ring)
	}
	if f.Keyring != "" || f.KMSKeyConfig == "" {
		ring, err := keys.OpenLocalKeyring(keys.LocalKeyringOptions{Path: f.Keyring})
		if err != nil {
			return nil, err
		}
		out = append(out, ring)
	}
	return out, nil
}

// Env is a connected client with everything the codec needs.
type Env struct {
	Client  client.Client
	Codec   *codec.Codec
	Warrant *headers.SealedHeader
	keys    []keys.KeyProvider
	legacy  *keys.LegacyKeyring
}

// Dial builds the codec and connects.
func (f *Flags) Dial() (*Env, error) {
	providers, err := f.Providers()
	if err != nil {
		return nil, err
	}
	var legacy *keys.LegacyKeyring
	if f.LegacyKeys != "" {
		if legacy, err = keys.OpenLegacyKeyring(keys.LegacyKeyringOptions{Path: f.LegacyKeys}); err != nil {
			return nil, err
		}
	}
	c, err := codec.New(codec.Options{KeyProviders: providers, DefaultNamespace: f.Namespace, RequireEncryption: f.RequireEncryption, LegacyKeys: legacy, KeyHierarchy: primitives.KeyHierarchy(f.KeyHierarchy)})
	if err != nil {
		return nil, err
	}
	warrant, err := headers.New(WarrantHeader, c, f.Namespace)
	if err != nil {
		return nil, err
	}
	dc, fc := codec.Converters(c)
	cl, err := client.Dial(client.Options{
		HostPort:         f.Address,
		Namespace:        f.Namespace,
		DataConverter:    dc,
		FailureConverter: fc,
		// The signal interceptor reaches the worker through the client: a signal that arrives while
		// KMS is down fails the workflow task (retried) instead of being dropped by the SDK.
		Interceptors: []interceptor.ClientInterceptor{codec.NewSignalInterceptor(c), warrant.ClientInterceptor()},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", f.Address, err)
	}
	return &Env{Client: cl, Codec: c, Warrant: warrant, keys: providers, legacy: legacy}, nil
}

// Close closes the client and stops the key watchers.
func (e *Env) Close() {
	e.Client.Close()
	for _, k := range e.keys {
		_ = k.Close()
	}
	if e.legacy != nil {
		_ = e.legacy.Close()
	}
}
