package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// KMSAPI is the part of the AWS KMS client the keyring uses (tests may pass their own).
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// AwsKmsKey is one configured KMS key.
type AwsKmsKey struct {
	// KeyID is an ARN, key id or alias, written verbatim into each payload's encryption-key-id.
	KeyID string
	// State defaults to primary for the first key and decrypt-only for the rest.
	State KekState
	// Region for this key; read from an ARN, else the keyring's region.
	Region string
}

// AwsKmsOptions configure NewAwsKmsKeyring.
type AwsKmsOptions struct {
	// Keys: primary first; the others only decrypt (keys wrapped before a rotation).
	Keys []AwsKmsKey
	// Region for keys whose id is not an ARN. Default AWS_REGION, then AWS_DEFAULT_REGION.
	Region string
	// Endpoint of an AWS-compatible KMS (tests use one on loopback).
	Endpoint string
	// Credentials; default the SDK's default chain (environment, shared files, IRSA, instance role).
	Credentials aws.CredentialsProvider
	// RequestTimeout per KMS call, retries included. Default 3 s.
	RequestTimeout time.Duration
	// MaxAttempts: the SDK's own attempts with backoff. Default 3.
	MaxAttempts int
	// ClientFactory replaces the SDK client (tests).
	ClientFactory func(region string) (KMSAPI, error)
}

type kmsKeyEntry struct {
	keyID  string
	state  KekState
	region string
}

// AwsKmsKeyring keeps KEKs in AWS KMS. Data keys come from GenerateDataKey and are unwrapped by
// Decrypt, both with the payload's scope as EncryptionContext {"temporal-namespace",
// "temporal-workflow-id"}, so a wrapped key only opens for the scope it was made for (and
// CloudTrail records which namespace and workflow each call served).
//
// The configured key id string, not the ARN KMS returns, goes into payloads: Handles and the
// CLI's `keys usage`/`keys retire` then match what the operator configured, aliases included.
type AwsKmsKeyring struct {
	opts    AwsKmsOptions
	timeout time.Duration

	mu      sync.RWMutex
	keys    []kmsKeyEntry
	clients map[string]KMSAPI

	watch *fileWatch
	// refresh re-reads the key config file if it changed (nil unless watched).
	refresh func() (bool, error)
}

var arnRegion = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):`)

// NewAwsKmsKeyring validates the options; no KMS call is made until the first data key.
func NewAwsKmsKeyring(opts AwsKmsOptions) (*AwsKmsKeyring, error) {
	if opts.RequestTimeout < 0 {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "awsKms %q expected a positive duration, got %v", "requestTimeout", opts.RequestTimeout)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 3 * time.Second
	}
	if opts.MaxAttempts < 0 {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "awsKms %q expected a positive integer, got %d", "maxAttempts", opts.MaxAttempts)
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 3
	}
	r := &AwsKmsKeyring{opts: opts, timeout: opts.RequestTimeout, clients: map[string]KMSAPI{}}
	if err := r.SetKeys(opts.Keys); err != nil {
		return nil, err
	}
	return r, nil
}

// AwsKmsKeyringFromConfigFile reads the keys from a KMS key config file and re-reads it when it
// changes (every watchInterval; 0 means DefaultWatchInterval, negative turns watching off), so
// `keys rotate --provider aws-kms` reaches running workers. warn is told when a reload fails.
func AwsKmsKeyringFromConfigFile(file string, opts AwsKmsOptions, watchInterval time.Duration, warn func(string)) (*AwsKmsKeyring, error) {
	ks, err := ReadKmsKeyConfig(file)
	if err != nil {
		return nil, err
	}
	opts.Keys = ks
	r, err := NewAwsKmsKeyring(opts)
	if err != nil {
		return nil, err
	}
	if watchInterval == 0 {
		watchInterval = DefaultWatchInterval
	}
	if watchInterval > 0 {
		last, _ := stampOf(file)
		if warn == nil {
			warn = func(string) {}
		}
		var mu sync.Mutex // the watcher and Handles both refresh
		r.refresh = func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			stamp, err := stampOf(file)
			if err != nil || stamp == last {
				return false, err
			}
			ks, err := ReadKmsKeyConfig(file)
			if err != nil {
				return false, err
			}
			if err := r.SetKeys(ks); err != nil {
				return false, err
			}
			last = stamp
			return true, nil
		}
		r.watch = watchFile(watchInterval, r.refresh, func(err error) {
			warn(fmt.Sprintf("temporal-envelope: KMS key config reload failed, keeping the loaded keys: %v", err))
		})
	}
	return r, nil
}

// SetKeys swaps the configured keys at once (rotation without restart).
func (r *AwsKmsKeyring) SetKeys(keys []AwsKmsKey) error {
	if len(keys) == 0 {
		return primitives.Errorf(primitives.CodeInvalidConfig, "awsKms %q expected at least one KMS key", "keys")
	}
	next := make([]kmsKeyEntry, len(keys))
	for i, k := range keys {
		if !IsKmsKeyID(k.KeyID) {
			return primitives.Errorf(primitives.CodeInvalidConfig, "awsKms \"keys[%d].keyId\" expected a KMS key ARN, key id or alias/<name>, got %q", i, k.KeyID)
		}
		state := k.State
		if state == "" {
			state = KekDecryptOnly
			if i == 0 {
				state = KekPrimary
			}
		}
		if (state == KekPrimary) != (i == 0) {
			return primitives.Errorf(primitives.CodeInvalidConfig, "awsKms \"keys[%d].state\": the first key, and only the first, is primary", i)
		}
		region := k.Region
		if region == "" {
			if m := arnRegion.FindStringSubmatch(k.KeyID); m != nil {
				region = m[1]
			}
		}
		for _, fallback := range []string{r.opts.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")} {
			if region == "" {
				region = fallback
			}
		}
		if region == "" {
			return primitives.Errorf(primitives.CodeInvalidConfig, "awsKms %q is required for key %s (or set AWS_REGION)", "region", k.KeyID)
		}
		next[i] = kmsKeyEntry{keyID: k.KeyID, state: state, region: region}
	}
	r.mu.Lock()
	r.keys = next
	r.mu.Unlock()
	return nil
}

func (r *AwsKmsKeyring) Name() string { return "aws-kms" }

func (r *AwsKmsKeyring) PrimaryKeyID() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0].keyID
}

func (r *AwsKmsKeyring) entry(keyID string) (kmsKeyEntry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.keyID == keyID {
			return k, true
		}
	}
	return kmsKeyEntry{}, false
}

// Handles reports whether keyID is a configured KMS key. For an id it does not know, a keyring
// read from a watched key config file first looks at the file (see knownAfterRefresh).
func (r *AwsKmsKeyring) Handles(keyID string) bool {
	if _, ok := r.entry(keyID); ok {
		return true
	}
	if r.refresh == nil {
		return false
	}
	return knownAfterRefresh(r.refresh, func() bool { _, ok := r.entry(keyID); return ok })
}

func (r *AwsKmsKeyring) GenerateDataKey(ctx context.Context, scope primitives.Scope) (GeneratedDataKey, error) {
	keyID := r.PrimaryKeyID()
	e, _ := r.entry(keyID)
	var out *kms.GenerateDataKeyOutput
	err := r.call(ctx, "GenerateDataKey", e, func(ctx context.Context, c KMSAPI) (err error) {
		out, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: scope.EncryptionContext()})
		return err
	})
	if err != nil {
		return GeneratedDataKey{}, err
	}
	if len(out.Plaintext) != primitives.KeyBytes || len(out.CiphertextBlob) == 0 {
		clear(out.Plaintext)
		return GeneratedDataKey{}, primitives.Errorf(primitives.CodeKmsUnavailable, "KMS GenerateDataKey for %s returned no usable data key", keyID)
	}
	return GeneratedDataKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob, KeyID: keyID}, nil
}

func (r *AwsKmsKeyring) DecryptDataKey(ctx context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error) {
	e, ok := r.entry(keyID)
	if !ok {
		return nil, primitives.Errorf(primitives.CodeUnknownKey, "KMS key %q is not configured", keyID)
	}
	if e.state == KekRetired {
		return nil, primitives.Errorf(primitives.CodeKeyRetired, "KMS key %q is retired and no longer decrypts", keyID)
	}
	var out *kms.DecryptOutput
	err := r.call(ctx, "Decrypt", e, func(ctx context.Context, c KMSAPI) (err error) {
		out, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keyID), CiphertextBlob: wrapped, EncryptionContext: scope.EncryptionContext()})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out.Plaintext) != primitives.KeyBytes {
		clear(out.Plaintext)
		return nil, primitives.Errorf(primitives.CodeTamperedCiphertext, "KMS Decrypt with %s did not return a 32-byte data key", keyID)
	}
	return out.Plaintext, nil
}

func (r *AwsKmsKeyring) ListKeys(ctx context.Context) ([]KekInfo, error) {
	r.mu.RLock()
	keys := append([]kmsKeyEntry(nil), r.keys...)
	r.mu.RUnlock()
	out := make([]KekInfo, len(keys))
	for i, k := range keys {
		out[i] = KekInfo{ID: k.keyID, Provider: "aws-kms", State: k.state}
		var desc *kms.DescribeKeyOutput
		// Listing must work while KMS is unreachable; the date is a nicety.
		if r.call(ctx, "DescribeKey", k, func(ctx context.Context, c KMSAPI) (err error) {
			desc, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.keyID)})
			return err
		}) == nil && desc.KeyMetadata != nil && desc.KeyMetadata.CreationDate != nil {
			out[i].Created = desc.KeyMetadata.CreationDate.UTC().Format(time.RFC3339)
		}
	}
	return out, nil
}

func (r *AwsKmsKeyring) CheckReady(ctx context.Context) error {
	keyID := r.PrimaryKeyID()
	e, _ := r.entry(keyID)
	var desc *kms.DescribeKeyOutput
	if err := r.call(ctx, "DescribeKey", e, func(ctx context.Context, c KMSAPI) (err error) {
		desc, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		return err
	}); err != nil {
		return err
	}
	if desc.KeyMetadata != nil && desc.KeyMetadata.KeyState != "" && desc.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		return primitives.Errorf(primitives.CodeKmsAccessDenied, "KMS key %s is %s", keyID, desc.KeyMetadata.KeyState)
	}
	return nil
}

// Close stops watching the key config file.
func (r *AwsKmsKeyring) Close() error {
	r.watch.close()
	return nil
}

func (r *AwsKmsKeyring) client(ctx context.Context, region string) (KMSAPI, error) {
	r.mu.RLock()
	c := r.clients[region]
	r.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	var err error
	if r.opts.ClientFactory != nil {
		c, err = r.opts.ClientFactory(region)
	} else {
		c, err = r.newClient(ctx, region)
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing := r.clients[region]; existing != nil {
		return existing, nil
	}
	r.clients[region] = c
	return c, nil
}

func (r *AwsKmsKeyring) newClient(ctx context.Context, region string) (KMSAPI, error) {
	loaders := []func(*config.LoadOptions) error{config.WithRegion(region), config.WithRetryMaxAttempts(r.opts.MaxAttempts)}
	if r.opts.Credentials != nil {
		loaders = append(loaders, config.WithCredentialsProvider(r.opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, primitives.Wrapf(primitives.CodeInvalidConfig, err, "awsKms: cannot load the AWS configuration for region %s", region)
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		if r.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(r.opts.Endpoint)
		}
	}), nil
}

func (r *AwsKmsKeyring) call(ctx context.Context, op string, e kmsKeyEntry, send func(context.Context, KMSAPI) error) error {
	c, err := r.client(ctx, e.region)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := send(ctx, c); err != nil {
		return MapKmsError(err, op, e.keyID, r.timeout)
	}
	return nil
}

var (
	kmsRetryable = map[string]bool{
		"ThrottlingException": true, "LimitExceededException": true, "KMSInternalException": true,
		"DependencyTimeoutException": true, "KeyUnavailableException": true, "ServiceUnavailableException": true,
		"InternalFailure": true, "RequestTimeout": true, "RequestTimeoutException": true,
	}
	kmsDenied = map[string]bool{
		"AccessDeniedException": true, "DisabledException": true, "KMSInvalidStateException": true,
		"NotFoundException": true, "InvalidKeyUsageException": true, "UnrecognizedClientException": true,
	}
	networkErrnos = []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ECONNABORTED}
)

// MapKmsError turns a KMS or network failure into a typed error (keys/aws-kms-keyring.ts
// mapKmsError). Messages carry the operation and key id, never key bytes. Unknown failures count as
// transient: a workflow task retried later loses nothing, while a permanent failure would fail
// the workflow.
func MapKmsError(err error, op, keyID string, timeout time.Duration) *primitives.Error {
	where := fmt.Sprintf("KMS %s with %s", op, keyID)
	var apiErr smithy.APIError
	name := ""
	if errors.As(err, &apiErr) {
		name = apiErr.ErrorCode()
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	statusText := ""
	if status != 0 {
		statusText = fmt.Sprintf(" (HTTP %d)", status)
	}
	switch {
	case name == "InvalidCiphertextException" || name == "IncorrectKeyException":
		return primitives.Wrapf(primitives.CodeTamperedCiphertext, err, "%s refused the wrapped data key: altered, or wrapped for another scope or key", where)
	case kmsDenied[name]:
		return primitives.Wrapf(primitives.CodeKmsAccessDenied, err, "%s was refused: %s", where, name)
	}
	for _, errno := range networkErrnos {
		if errors.Is(err, errno) {
			return primitives.Wrapf(primitives.CodeKmsUnavailable, err, "%s failed and may succeed later: %s", where, errnoLabel(errno))
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return primitives.Wrapf(primitives.CodeKmsUnavailable, err, "%s failed and may succeed later: ENOTFOUND", where)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return primitives.Wrapf(primitives.CodeKmsUnavailable, err, "%s timed out after %d ms", where, timeout.Milliseconds())
	}
	if kmsRetryable[name] || status >= 500 {
		return primitives.Wrapf(primitives.CodeKmsUnavailable, err, "%s failed and may succeed later: %s%s", where, name, statusText)
	}
	if name == "" {
		name = "Error"
	}
	return primitives.Wrapf(primitives.CodeKmsUnavailable, err, "%s failed: %s%s", where, name, statusText)
}

func errnoLabel(e syscall.Errno) string {
	switch e {
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.EPIPE:
		return "EPIPE"
	case syscall.EHOSTUNREACH:
		return "EHOSTUNREACH"
	case syscall.ECONNABORTED:
		return "ECONNABORTED"
	}
	return e.Error()
}
