// Package keys is the key layer of the temporal-envelope Go codec: the KeyProvider interface, a
// provider set, the local keyring file, AWS KMS, and the data-key cache that keeps KMS off the hot
// path. It mirrors keys/*.ts of the TypeScript codec.
package keys

import (
	"context"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// GeneratedDataKey is a fresh data key: plaintext for this process only, and the same key wrapped
// by a KEK for the payload.
type GeneratedDataKey struct {
	// Plaintext is 32 bytes. The caller owns it and wipes it when done.
	Plaintext []byte
	// Wrapped is opaque; only DecryptDataKey of a provider holding KeyID opens it.
	Wrapped []byte
	// KeyID is the KEK (version) that wrapped it, written into encryption-key-id.
	KeyID string
}

// KekState is a KEK's life stage.
type KekState string

const (
	KekPrimary     KekState = "primary"
	KekDecryptOnly KekState = "decrypt-only"
	KekRetired     KekState = "retired"
)

// KekInfo describes one KEK for listings.
type KekInfo struct {
	ID       string
	Provider string
	State    KekState
	Created  string
}

// KeyProvider wraps and unwraps data keys with key-encryption keys (a keyring). Every wrap is bound
// to its scope (as additional data or KMS encryption context), so a wrapped key copied to another
// scope does not unwrap.
//
// Errors are *primitives.Error: UNKNOWN_KEY for a key id this provider does not hold,
// TAMPERED_CIPHERTEXT for a wrapped key that does not authenticate, KMS_UNAVAILABLE (retryable) for
// outages and throttling, KMS_ACCESS_DENIED / KEY_RETIRED / KEY_SHREDDED for permanent refusals.
type KeyProvider interface {
	// Name is a short provider name for logs and listings: "local", "aws-kms".
	Name() string
	// PrimaryKeyID is the key id new data keys are wrapped with now (it changes on rotation).
	PrimaryKeyID() string
	// Handles reports whether this provider can unwrap data keys wrapped by keyID.
	Handles(keyID string) bool
	GenerateDataKey(ctx context.Context, scope primitives.Scope) (GeneratedDataKey, error)
	DecryptDataKey(ctx context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error)
	ListKeys(ctx context.Context) ([]KekInfo, error)
	// CheckReady returns nil when the provider can reach its keys (a readiness probe).
	CheckReady(ctx context.Context) error
	// Close stops watchers and releases clients.
	Close() error
}

// Observer receives metrics hooks; every field is optional.
type Observer struct {
	// OnKMSCall is told about every provider call: op "generate" or "decrypt", outcome "ok" or "error".
	OnKMSCall   func(op, provider, outcome string, seconds float64)
	OnCacheHit  func(cache string)
	OnCacheMiss func(cache string)
}

// kmsCall runs one call to a key provider and tells OnKMSCall about it (op, outcome, seconds).
func (o Observer) kmsCall(op, provider string, call func() error) error {
	start := time.Now()
	err := call()
	if o.OnKMSCall != nil {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		o.OnKMSCall(op, provider, outcome, time.Since(start).Seconds())
	}
	return err
}
