package keys

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// fakeKMS wraps a local keyring, counts calls, and can be made to fail or to hold calls.
type fakeKMS struct {
	*LocalKeyring
	generates, decrypts atomic.Int64
	mu                  sync.Mutex
	fail                error
	gate                chan struct{}
}

func newFakeKMS(t *testing.T) *fakeKMS {
	_, doc := newKeyringFile(t)
	ring, err := LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKMS{LocalKeyring: ring}
}

func (f *fakeKMS) setFail(err error) { f.mu.Lock(); f.fail = err; f.mu.Unlock() }

func (f *fakeKMS) wait() error {
	f.mu.Lock()
	gate, err := f.gate, f.fail
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return err
}

func (f *fakeKMS) GenerateDataKey(ctx context.Context, s primitives.Scope) (GeneratedDataKey, error) {
	f.generates.Add(1)
	if err := f.wait(); err != nil {
		return GeneratedDataKey{}, err
	}
	return f.LocalKeyring.GenerateDataKey(ctx, s)
}

func (f *fakeKMS) DecryptDataKey(ctx context.Context, id string, w []byte, s primitives.Scope) ([]byte, error) {
	f.decrypts.Add(1)
	if err := f.wait(); err != nil {
		return nil, err
	}
	return f.LocalKeyring.DecryptDataKey(ctx, id, w, s)
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

func newCache(t *testing.T, kms KeyProvider, limits CacheLimits, clock *fakeClock) *DataKeyCache {
	t.Helper()
	opts := CacheOptions{Limits: limits}
	if clock != nil {
		opts.Clock = clock.Now
	}
	c, err := NewDataKeyCache(kms, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	wf1 = primitives.Scope{Namespace: "default", WorkflowID: "wf-1"}
	wf2 = primitives.Scope{Namespace: "default", WorkflowID: "wf-2"}
)

func TestDefaultsMatchTheTypeScriptCache(t *testing.T) {
	c := newCache(t, newFakeKMS(t), CacheLimits{}, nil)
	l := c.Limits()
	if l.MaxAge != time.Hour || l.MaxPayloadsPerKey != 1<<20 || l.MaxBytesPerKey != 1<<36 || l.MaxEntries != 10_000 ||
		l.MaxDecryptEntries != 10_000 || l.DecryptMaxAge != time.Hour || l.StaleGrace != 15*time.Minute {
		t.Fatalf("defaults: %+v", l)
	}
	if _, err := NewDataKeyCache(newFakeKMS(t), CacheOptions{Limits: CacheLimits{MaxPayloadsPerKey: 1 << 33}}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("a limit above the cipher's must be refused: %v", err)
	}
	if _, err := NewDataKeyCache(newFakeKMS(t), CacheOptions{Limits: CacheLimits{MaxEntries: -1}}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("negative maxEntries: %v", err)
	}
}

func TestOneProviderCallPerScopeAndNoneToReadOwnPayloads(t *testing.T) {
	kms := newFakeKMS(t)
	c := newCache(t, kms, CacheLimits{}, nil)
	for i := 0; i < 1000; i++ {
		scope := wf1
		if i%2 == 1 {
			scope = wf2
		}
		lease, err := c.LeaseForEncrypt(ctx, scope, primitives.AES256GCM, 100)
		if err != nil {
			t.Fatal(err)
		}
		key, err := c.LeaseForDecrypt(ctx, lease.KeyID, lease.Wrapped, scope)
		if err != nil || string(key) != string(lease.Key) {
			t.Fatal("decrypt lease differs")
		}
	}
	if kms.generates.Load() != 2 || kms.decrypts.Load() != 0 {
		t.Fatalf("generates %d decrypts %d", kms.generates.Load(), kms.decrypts.Load())
	}
}

func TestLeasesAreCopies(t *testing.T) {
	c := newCache(t, newFakeKMS(t), CacheLimits{}, nil)
	a, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	clear(a.Key)
	b, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	if string(b.Key) == string(make([]byte, 32)) {
		t.Fatal("wiping a lease wiped the cached key")
	}
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	kms := newFakeKMS(t)
	kms.gate = make(chan struct{})
	c := newCache(t, kms, CacheLimits{}, nil)
	var wg sync.WaitGroup
	leases := make([]Lease, 50)
	for i := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if leases[i], err = c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, func() bool { return kms.generates.Load() >= 1 })
	time.Sleep(50 * time.Millisecond) // let the others pile up behind the first call
	kms.mu.Lock()
	close(kms.gate)
	kms.gate = nil
	kms.mu.Unlock()
	wg.Wait()
	if n := kms.generates.Load(); n != 1 {
		t.Fatalf("%d generate calls for one scope", n)
	}
	for _, l := range leases {
		if string(l.Wrapped) != string(leases[0].Wrapped) {
			t.Fatal("callers got different keys")
		}
	}
}

func TestKeyLimitsMakeANewKey(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeKMS(t)
	c := newCache(t, kms, CacheLimits{MaxPayloadsPerKey: 3, MaxBytesPerKey: 1000}, clock)
	first, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 10)
	c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 10)
	c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 10)
	fourth, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 10)
	if string(first.Wrapped) == string(fourth.Wrapped) || kms.generates.Load() != 2 {
		t.Fatal("payload limit did not rotate the key")
	}
	big, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 995)
	if string(big.Wrapped) == string(fourth.Wrapped) {
		t.Fatal("byte limit did not rotate the key")
	}
	clock.advance(time.Hour)
	aged, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	if string(aged.Wrapped) == string(big.Wrapped) || kms.generates.Load() != 4 {
		t.Fatalf("max age did not rotate the key (%d generates)", kms.generates.Load())
	}
	if _, err := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1001); primitives.CodeOf(err) != primitives.CodeKeyLimitExceeded || !primitives.IsRetryable(err) {
		t.Fatalf("a payload over the byte limit: %v", err)
	}
}

func TestANewPrimaryKEKMakesANewKey(t *testing.T) {
	kms := newFakeKMS(t)
	c := newCache(t, kms, CacheLimits{}, nil)
	before, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	next, _ := NewKeyEntry(2, time.Now())
	doc := KeyringDocument{Format: KeyringFormat}
	for _, k := range kms.keks {
		doc.Keys = append(doc.Keys, KeyringEntry{ID: k.id, Version: k.version, State: KekDecryptOnly, Created: k.created, Material: encodeMaterial(k.material)})
	}
	doc.Keys = append(doc.Keys, next)
	if err := kms.load(doc); err != nil {
		t.Fatal(err)
	}
	after, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	if after.KeyID != next.ID || before.KeyID == next.ID {
		t.Fatalf("sealing still uses %s after rotation to %s", after.KeyID, next.ID)
	}
}

func TestKMSOutageServesStaleKeysWithinGrace(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeKMS(t)
	c := newCache(t, kms, CacheLimits{}, clock)
	first, _ := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	down := primitives.Errorf(primitives.CodeKmsUnavailable, "KMS GenerateDataKey with k failed")
	kms.setFail(down)

	clock.advance(time.Hour + 10*time.Minute)
	stale, err := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	if err != nil || string(stale.Wrapped) != string(first.Wrapped) {
		t.Fatalf("within grace: %v", err)
	}
	if _, err := c.LeaseForEncrypt(ctx, wf2, primitives.AES256GCM, 1); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("a scope with no cached key must fail retryably: %v", err)
	}
	clock.advance(6 * time.Minute)
	if _, err := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("past grace: %v", err)
	}
	kms.setFail(primitives.Errorf(primitives.CodeKmsAccessDenied, "denied"))
	clock.now = clock.now.Add(-6 * time.Minute)
	if _, err := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1); primitives.CodeOf(err) != primitives.CodeKmsAccessDenied {
		t.Fatalf("a permanent refusal is not covered by the grace: %v", err)
	}
	kms.setFail(nil)
	if _, err := c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestEvictionWipesKeys(t *testing.T) {
	c := newCache(t, newFakeKMS(t), CacheLimits{MaxEntries: 1, MaxDecryptEntries: 1}, nil)
	c.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	c.mu.Lock()
	entry, _ := c.encrypt.get(string(primitives.AES256GCM) + "|" + wf1.Key())
	var dec *decryptEntry
	for _, el := range c.decrypt.items {
		dec = el.Value.(*lruItem[*decryptEntry]).value
	}
	c.mu.Unlock()
	c.LeaseForEncrypt(ctx, wf2, primitives.AES256GCM, 1)
	if !entry.wiped || string(entry.key) != string(make([]byte, 32)) {
		t.Fatal("evicted sealing key not wiped")
	}
	if !dec.wiped || string(dec.key) != string(make([]byte, 32)) {
		t.Fatal("evicted opening key not wiped")
	}
	if e, d := c.Stats(); e != 1 || d != 1 {
		t.Fatalf("stats %d %d", e, d)
	}
}

func TestDecryptCacheExpires(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeKMS(t)
	writer := newCache(t, kms, CacheLimits{}, nil)
	lease, _ := writer.LeaseForEncrypt(ctx, wf1, primitives.AES256GCM, 1)
	reader := newCache(t, kms, CacheLimits{DecryptMaxAge: time.Minute}, clock)
	for i := 0; i < 5; i++ {
		if _, err := reader.LeaseForDecrypt(ctx, lease.KeyID, lease.Wrapped, wf1); err != nil {
			t.Fatal(err)
		}
	}
	if kms.decrypts.Load() != 1 {
		t.Fatalf("%d decrypts", kms.decrypts.Load())
	}
	clock.advance(time.Minute)
	reader.LeaseForDecrypt(ctx, lease.KeyID, lease.Wrapped, wf1)
	if kms.decrypts.Load() != 2 {
		t.Fatalf("expired entry served: %d decrypts", kms.decrypts.Load())
	}
	if _, err := reader.LeaseForDecrypt(ctx, lease.KeyID, lease.Wrapped, wf2); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("another scope: %v", err)
	}
}
