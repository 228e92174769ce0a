package keys

import (
	"context"
	"crypto/rand"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// BranchKeyWrapper is a KEK provider that wraps branch keys (format v2) with a context of its own,
// apart from every data key's: LocalKeyring and AwsKmsKeyring. Only such providers are used under
// branch keys; one that would wrap a branch key like a namespace's data key cannot be, by type.
type BranchKeyWrapper interface {
	// GenerateBranchKey returns 32 fresh bytes, wrapped for namespace by the primary KEK.
	GenerateBranchKey(ctx context.Context, namespace string) (GeneratedDataKey, error)
	// DecryptBranchKey unwraps a branch key wrapped for namespace by keyID.
	DecryptBranchKey(ctx context.Context, keyID string, wrapped []byte, namespace string) ([]byte, error)
}

// BranchKeyOptions configure NewBranchKeyProvider. Zero fields take the defaults of
// keys/branch-key-provider.ts.
type BranchKeyOptions struct {
	// Hierarchy decides how new data keys are made: per-workflow (default, format v1) or branch
	// (format v2). Both read either format.
	Hierarchy primitives.KeyHierarchy
	// MaxAge: how long one branch key makes new data keys for a namespace. Default 1 h.
	MaxAge time.Duration
	// StaleGrace: while KMS is unavailable, keep deriving from a branch key this long past MaxAge.
	// Default 15 min; negative turns it off.
	StaleGrace time.Duration
	// DecryptMaxAge: how long an unwrapped branch key stays cached for opening. Default 1 h.
	DecryptMaxAge time.Duration
	// MaxEntries: namespaces whose branch keys stay cached for sealing. Default 1,000.
	MaxEntries int
	// MaxDecryptEntries: unwrapped branch keys kept for opening (one per writer process, namespace
	// and hour). Default 10,000.
	MaxDecryptEntries int
	// Observer.OnKMSCall is told about every call that reaches the KEK provider: branch keys and
	// per-workflow data keys alike (the other hooks are the data-key cache's).
	Observer Observer
	Clock    func() time.Time
	// Random is the salt source; only tests and known-answer vectors replace it. Default crypto/rand.
	Random io.Reader
}

type branchKeyEntry struct {
	keyID   string
	key     []byte
	wrapped []byte
	created time.Time
	// wiped is set when the entry leaves its cache and the key is zeroed.
	wiped bool
}

// BranchKeyProvider is the branch-key layer over a KEK provider. With Hierarchy branch,
// GenerateDataKey takes the namespace's branch key (one KMS GenerateDataKey per namespace per
// MaxAge, concurrent first uses sharing it), draws a 32-byte salt and derives the workflow's data
// key locally (HKDF); its Wrapped is the wrapped branch key and the salt together
// (primitives.PackBranchWrapped), which the codec writes as a version-2 header. DecryptDataKey
// reverses it, unwrapping each distinct branch key once (one KMS Decrypt, cached by KEK id,
// namespace and wrapped bytes); any other wrapped key (format v1) goes to the KEK provider as it
// is. So every process reads both formats, whichever it seals.
//
// Branch keys are wiped when they leave their caches: evicted, expired (swept on use at most once a
// minute) or by Wipe. The codec puts this layer over each provider by itself.
type BranchKeyProvider struct {
	inner    KeyProvider
	wrapper  BranchKeyWrapper // nil when inner cannot wrap branch keys
	o        BranchKeyOptions
	clock    func() time.Time
	random   io.Reader
	observer Observer

	mu        sync.Mutex
	sealing   *lru[*branchKeyEntry]
	opening   *lru[*branchKeyEntry]
	lastSweep time.Time
	flights   singleflight.Group
}

var _ KeyProvider = (*BranchKeyProvider)(nil)

// NewBranchKeyProvider validates the options (INVALID_CONFIG names the field) and puts the layer
// over inner. Hierarchy branch needs an inner that is a BranchKeyWrapper.
func NewBranchKeyProvider(inner KeyProvider, opts BranchKeyOptions) (*BranchKeyProvider, error) {
	hierarchy, err := primitives.ParseKeyHierarchy(string(opts.Hierarchy))
	if err != nil {
		return nil, err
	}
	opts.Hierarchy = hierarchy
	if layer, ok := inner.(*BranchKeyProvider); ok {
		// Two layers would hide the KEK provider's branch wrapping from the outer one, which could
		// then not open version 2; the codec puts the one layer in by itself.
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "key provider %q already has the branch-key layer: pass the KEK provider itself (the codec adds the layer)", layer.Name())
	}
	wrapper, _ := inner.(BranchKeyWrapper)
	if hierarchy == primitives.HierarchyBranch && wrapper == nil {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "%q \"branch\" needs a KEK provider that wraps branch keys (LocalKeyring, AwsKmsKeyring: a keys.BranchKeyWrapper); %q does not", "keyHierarchy", inner.Name())
	}
	for _, d := range []struct {
		name  string
		value *time.Duration
		def   time.Duration
	}{{"branchKeyMaxAge", &opts.MaxAge, time.Hour}, {"decryptMaxAge", &opts.DecryptMaxAge, time.Hour}, {"staleGrace", &opts.StaleGrace, 15 * time.Minute}} {
		switch {
		case *d.value < 0 && d.name == "staleGrace":
			*d.value = 0
		case *d.value < 0:
			return nil, primitives.Errorf(primitives.CodeInvalidConfig, "branch keys %q expected a positive duration, got %v", d.name, *d.value)
		case *d.value == 0:
			*d.value = d.def
		}
	}
	for _, n := range []struct {
		name  string
		value *int
		def   int
	}{{"maxEntries", &opts.MaxEntries, 1000}, {"maxDecryptEntries", &opts.MaxDecryptEntries, 10_000}} {
		switch {
		case *n.value < 0:
			return nil, primitives.Errorf(primitives.CodeInvalidConfig, "branch keys %q expected a positive number, got %d", n.name, *n.value)
		case *n.value == 0:
			*n.value = n.def
		}
	}
	b := &BranchKeyProvider{inner: inner, wrapper: wrapper, o: opts, clock: opts.Clock, random: opts.Random, observer: opts.Observer}
	if b.clock == nil {
		b.clock = time.Now
	}
	if b.random == nil {
		b.random = rand.Reader
	}
	wipe := func(e *branchKeyEntry) {
		e.wiped = true
		clear(e.key)
	}
	b.sealing = newLRU(opts.MaxEntries, wipe)
	b.opening = newLRU(opts.MaxDecryptEntries, wipe)
	b.lastSweep = b.clock()
	return b, nil
}

// Hierarchy is how this layer makes new data keys.
func (b *BranchKeyProvider) Hierarchy() primitives.KeyHierarchy { return b.o.Hierarchy }

// Inner is the KEK provider under this layer.
func (b *BranchKeyProvider) Inner() KeyProvider { return b.inner }

func (b *BranchKeyProvider) Name() string              { return b.inner.Name() }
func (b *BranchKeyProvider) PrimaryKeyID() string      { return b.inner.PrimaryKeyID() }
func (b *BranchKeyProvider) Handles(keyID string) bool { return b.inner.Handles(keyID) }
func (b *BranchKeyProvider) ListKeys(ctx context.Context) ([]KekInfo, error) {
	return b.inner.ListKeys(ctx)
}
func (b *BranchKeyProvider) CheckReady(ctx context.Context) error { return b.inner.CheckReady(ctx) }

// Close wipes every branch key, then closes the KEK provider.
func (b *BranchKeyProvider) Close() error {
	b.Wipe()
	return b.inner.Close()
}

// Wipe forgets every branch key (their bytes zeroed), leaving the KEK provider open.
func (b *BranchKeyProvider) Wipe() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sealing.clear()
	b.opening.clear()
}

// Stats counts cached branch keys.
func (b *BranchKeyProvider) Stats() (sealingEntries, openingEntries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sealing.len(), b.opening.len()
}

func (b *BranchKeyProvider) GenerateDataKey(ctx context.Context, scope primitives.Scope) (GeneratedDataKey, error) {
	if b.o.Hierarchy != primitives.HierarchyBranch {
		var dk GeneratedDataKey
		err := b.kms("generate", func() (err error) { dk, err = b.inner.GenerateDataKey(ctx, scope); return err })
		return dk, err
	}
	// The salt first, then the branch key: the order the known-answer vectors were sealed in.
	salt := make([]byte, primitives.DEKSaltBytes)
	if _, err := io.ReadFull(b.random, salt); err != nil {
		return GeneratedDataKey{}, primitives.Wrapf(primitives.CodeKmsUnavailable, err, "no random salt for a data key")
	}
	for attempt := 0; attempt < 3; attempt++ {
		entry, err := b.branchKeyForSealing(ctx, scope.Namespace)
		if err != nil {
			return GeneratedDataKey{}, err
		}
		key, ok := b.copyKey(entry)
		if !ok {
			continue
		}
		dek, err := primitives.DeriveBranchDataKey(key, salt, scope)
		clear(key)
		if err != nil {
			return GeneratedDataKey{}, err
		}
		return GeneratedDataKey{Plaintext: dek, Wrapped: primitives.PackBranchWrapped(entry.wrapped, salt), KeyID: entry.keyID}, nil
	}
	return GeneratedDataKey{}, primitives.Errorf(primitives.CodeKmsUnavailable, "the branch key for namespace %q left the cache repeatedly before use; retry", scope.Namespace)
}

func (b *BranchKeyProvider) DecryptDataKey(ctx context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error) {
	wrappedBranchKey, salt, ok := primitives.UnpackBranchWrapped(wrapped)
	if !ok {
		var key []byte
		err := b.kms("decrypt", func() (err error) { key, err = b.inner.DecryptDataKey(ctx, keyID, wrapped, scope); return err })
		return key, err
	}
	if b.wrapper == nil {
		return nil, primitives.Errorf(primitives.CodeUnsupportedFormat, "a version-2 payload needs a KEK provider that unwraps branch keys; %q does not", b.inner.Name())
	}
	wrappedBranchKey = clone(wrappedBranchKey)
	for attempt := 0; attempt < 3; attempt++ {
		entry, err := b.branchKeyForOpening(ctx, keyID, scope.Namespace, wrappedBranchKey)
		if err != nil {
			return nil, err
		}
		key, ok := b.copyKey(entry)
		if !ok {
			continue
		}
		dek, err := primitives.DeriveBranchDataKey(key, salt, scope)
		clear(key)
		return dek, err
	}
	return nil, primitives.Errorf(primitives.CodeKmsUnavailable, "the branch key of %q for namespace %q left the cache repeatedly before use; retry", keyID, scope.Namespace)
}

func (b *BranchKeyProvider) copyKey(e *branchKeyEntry) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.wiped {
		return nil, false
	}
	return clone(e.key), true
}

func (b *BranchKeyProvider) branchKeyForSealing(ctx context.Context, namespace string) (*branchKeyEntry, error) {
	primary := b.inner.PrimaryKeyID()
	b.mu.Lock()
	b.sweep()
	cached, _ := b.sealing.get(namespace)
	if cached != nil && b.clock().Sub(cached.created) < b.o.MaxAge && cached.keyID == primary {
		b.mu.Unlock()
		return cached, nil
	}
	b.mu.Unlock()
	v, err, _ := b.flights.Do("s\x00"+namespace, func() (any, error) { return b.newBranchKey(ctx, namespace) })
	if err != nil {
		// KMS is down: a branch key past its age, within the grace period, keeps new workflows going.
		b.mu.Lock()
		defer b.mu.Unlock()
		if cached != nil && !cached.wiped && primitives.IsRetryable(err) && b.clock().Sub(cached.created) < b.o.MaxAge+b.o.StaleGrace {
			return cached, nil
		}
		return nil, err
	}
	return v.(*branchKeyEntry), nil
}

func (b *BranchKeyProvider) newBranchKey(ctx context.Context, namespace string) (*branchKeyEntry, error) {
	var dk GeneratedDataKey
	if err := b.kms("generate", func() (err error) { dk, err = b.wrapper.GenerateBranchKey(ctx, namespace); return err }); err != nil {
		return nil, err
	}
	defer clear(dk.Plaintext)
	if len(dk.Plaintext) != primitives.BranchKeyBytes {
		return nil, primitives.Errorf(primitives.CodeTamperedCiphertext, "branch key from %q expected %d bytes, got %d", dk.KeyID, primitives.BranchKeyBytes, len(dk.Plaintext))
	}
	now := b.clock()
	entry := &branchKeyEntry{keyID: dk.KeyID, key: clone(dk.Plaintext), wrapped: clone(dk.Wrapped), created: now}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sealing.set(namespace, entry)
	// This process opens its own payloads without asking KMS for the key it made.
	b.opening.set(openingID(entry.keyID, namespace, entry.wrapped), &branchKeyEntry{keyID: entry.keyID, key: clone(entry.key), wrapped: entry.wrapped, created: now})
	return entry, nil
}

func (b *BranchKeyProvider) branchKeyForOpening(ctx context.Context, keyID, namespace string, wrappedBranchKey []byte) (*branchKeyEntry, error) {
	id := openingID(keyID, namespace, wrappedBranchKey)
	b.mu.Lock()
	b.sweep()
	if e, ok := b.opening.get(id); ok {
		if b.clock().Sub(e.created) < b.o.DecryptMaxAge {
			b.mu.Unlock()
			return e, nil
		}
		b.opening.delete(id)
	}
	b.mu.Unlock()
	v, err, _ := b.flights.Do("o\x00"+id, func() (any, error) {
		var key []byte
		if err := b.kms("decrypt", func() (err error) {
			key, err = b.wrapper.DecryptBranchKey(ctx, keyID, wrappedBranchKey, namespace)
			return err
		}); err != nil {
			return nil, err
		}
		defer clear(key)
		if len(key) != primitives.BranchKeyBytes {
			return nil, primitives.Errorf(primitives.CodeTamperedCiphertext, "wrapped branch key expected %d bytes inside, got %d", primitives.BranchKeyBytes, len(key))
		}
		entry := &branchKeyEntry{keyID: keyID, key: clone(key), wrapped: wrappedBranchKey, created: b.clock()}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.opening.set(id, entry)
		return entry, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*branchKeyEntry), nil
}

// sweep drops and wipes expired branch keys, at most once a minute (under b.mu): no goroutine to
// stop, and an expired key does not outlive the next use of the layer by more than that.
func (b *BranchKeyProvider) sweep() {
	now := b.clock()
	if now.Sub(b.lastSweep) < min(time.Minute, b.o.MaxAge, b.o.DecryptMaxAge) {
		return
	}
	b.lastSweep = now
	b.sealing.removeIf(func(e *branchKeyEntry) bool { return now.Sub(e.created) >= b.o.MaxAge+b.o.StaleGrace })
	b.opening.removeIf(func(e *branchKeyEntry) bool { return now.Sub(e.created) >= b.o.DecryptMaxAge })
}

// kms is a call to the KEK provider, told to the observer as a KMS call.
func (b *BranchKeyProvider) kms(op string, call func() error) error {
	return b.observer.kmsCall(op, b.inner.Name(), call)
}

// openingID keys the opening cache: KEK id, namespace and the wrapped bytes themselves (only branch
// keys that unwrapped are stored, so hostile input cannot fill it with long ids).
func openingID(keyID, namespace string, wrapped []byte) string {
	return keyID + "\x00" + strconv.Itoa(len(namespace)) + ":" + namespace + "\x00" + string(wrapped)
}
