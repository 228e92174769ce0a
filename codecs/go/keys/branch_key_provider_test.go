package keys

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// fakeBranchKMS is fakeKMS that also counts (and can fail or hold) branch-key calls.
type fakeBranchKMS struct {
	*fakeKMS
	branchGenerates, branchDecrypts atomic.Int64
}

func newFakeBranchKMS(t *testing.T) *fakeBranchKMS { return &fakeBranchKMS{fakeKMS: newFakeKMS(t)} }

func (f *fakeBranchKMS) GenerateBranchKey(ctx context.Context, ns string) (GeneratedDataKey, error) {
	f.branchGenerates.Add(1)
	if err := f.wait(); err != nil {
		return GeneratedDataKey{}, err
	}
	return f.LocalKeyring.GenerateBranchKey(ctx, ns)
}

func (f *fakeBranchKMS) DecryptBranchKey(ctx context.Context, id string, w []byte, ns string) ([]byte, error) {
	f.branchDecrypts.Add(1)
	if err := f.wait(); err != nil {
		return nil, err
	}
	return f.LocalKeyring.DecryptBranchKey(ctx, id, w, ns)
}

// kekOnly hides everything but KeyProvider: a provider that cannot wrap branch keys.
type kekOnly struct{ KeyProvider }

func newBranchLayer(t *testing.T, inner KeyProvider, opts BranchKeyOptions, clock *fakeClock) *BranchKeyProvider {
	t.Helper()
	if clock != nil {
		opts.Clock = clock.Now
	}
	b, err := NewBranchKeyProvider(inner, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wfIn(ns string, i int) primitives.Scope {
	return primitives.Scope{Namespace: ns, WorkflowID: fmt.Sprintf("wf-%d", i)}
}

func TestBranchKeysCallKMSOncePerNamespaceNotPerWorkflow(t *testing.T) {
	kms := newFakeBranchKMS(t)
	var observed atomic.Int64
	layer := newBranchLayer(t, kms, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch, Observer: Observer{OnKMSCall: func(op, provider, outcome string, _ float64) {
		observed.Add(1)
		if op != "generate" || provider != "local" || outcome != "ok" {
			t.Errorf("%s %s %s", op, provider, outcome)
		}
	}}}, nil)
	c := newCache(t, layer, CacheLimits{}, nil)
	seen := map[string]bool{}
	for _, ns := range []string{"default", "other"} {
		for i := 0; i < 100; i++ {
			scope := wfIn(ns, i)
			lease, err := c.LeaseForEncrypt(ctx, scope, primitives.AES256GCM, 10)
			if err != nil {
				t.Fatal(err)
			}
			if _, salt, ok := primitives.UnpackBranchWrapped(lease.Wrapped); !ok || len(salt) != 32 {
				t.Fatalf("lease for %v is not branch-wrapped", scope)
			}
			if seen[string(lease.Key)] {
				t.Fatalf("two workflows got the same data key")
			}
			seen[string(lease.Key)] = true
		}
	}
	if kms.branchGenerates.Load() != 2 || kms.generates.Load() != 0 || kms.branchDecrypts.Load() != 0 || observed.Load() != 2 {
		t.Fatalf("branch generates %d, data-key generates %d, branch decrypts %d, observed %d", kms.branchGenerates.Load(), kms.generates.Load(), kms.branchDecrypts.Load(), observed.Load())
	}
	if s, o := layer.Stats(); s != 2 || o != 2 {
		t.Fatalf("stats %d %d", s, o)
	}
}

func TestAnotherProcessUnwrapsEachBranchKeyOnce(t *testing.T) {
	kms := newFakeBranchKMS(t)
	writer := newCache(t, newBranchLayer(t, kms, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch}, nil), CacheLimits{}, nil)
	// The reader seals per workflow (the default) and still opens version 2.
	reader := newCache(t, newBranchLayer(t, kms, BranchKeyOptions{}, nil), CacheLimits{}, nil)
	leases := make([]Lease, 0, 50)
	for i := 0; i < 50; i++ {
		lease, err := writer.LeaseForEncrypt(ctx, wfIn("default", i), primitives.AES256GCM, 10)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, lease)
	}
	var wg sync.WaitGroup
	for i, lease := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, err := reader.LeaseForDecrypt(ctx, lease.KeyID, lease.Wrapped, wfIn("default", i))
			if err != nil || string(key) != string(lease.Key) {
				t.Errorf("workflow %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if kms.branchDecrypts.Load() != 1 || kms.decrypts.Load() != 0 {
		t.Fatalf("branch decrypts %d, data-key decrypts %d for 50 workflows under one branch key", kms.branchDecrypts.Load(), kms.decrypts.Load())
	}
	// The same branch key and salt for another workflow derive another key, which opens nothing of the first.
	other, err := reader.LeaseForDecrypt(ctx, leases[0].KeyID, leases[0].Wrapped, wfIn("default", 999))
	if err != nil || string(other) == string(leases[0].Key) {
		t.Fatalf("derivation ignores the scope: %v", err)
	}
	// A wrapped branch key moved to another namespace does not unwrap.
	if _, err := reader.LeaseForDecrypt(ctx, leases[0].KeyID, leases[0].Wrapped, wfIn("elsewhere", 0)); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("another namespace: %v", err)
	}
}

func TestBranchKeyRenewedAfterMaxAgeAndOnRotation(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeBranchKMS(t)
	layer := newBranchLayer(t, kms, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch, MaxAge: 10 * time.Minute}, clock)
	gen := func(i int) GeneratedDataKey {
		dk, err := layer.GenerateDataKey(ctx, wfIn("default", i))
		if err != nil {
			t.Fatal(err)
		}
		return dk
	}
	bkOf := func(dk GeneratedDataKey) string {
		bk, _, _ := primitives.UnpackBranchWrapped(dk.Wrapped)
		return string(bk)
	}
	first := gen(1)
	clock.advance(9 * time.Minute)
	if bkOf(gen(2)) != bkOf(first) || kms.branchGenerates.Load() != 1 {
		t.Fatal("a branch key younger than MaxAge was not reused")
	}
	clock.advance(2 * time.Minute)
	renewed := gen(3)
	if bkOf(renewed) == bkOf(first) || kms.branchGenerates.Load() != 2 {
		t.Fatal("a branch key past MaxAge was reused")
	}
	next, _ := NewKeyEntry(2, time.Now())
	doc := KeyringDocument{Format: KeyringFormat}
	for _, k := range kms.keks {
		doc.Keys = append(doc.Keys, KeyringEntry{ID: k.id, Version: k.version, State: KekDecryptOnly, Created: k.created, Material: encodeMaterial(k.material)})
	}
	doc.Keys = append(doc.Keys, next)
	if err := kms.load(doc); err != nil {
		t.Fatal(err)
	}
	if after := gen(4); after.KeyID != next.ID || kms.branchGenerates.Load() != 3 {
		t.Fatalf("sealing still uses %s after rotation to %s", after.KeyID, next.ID)
	}
}

func TestBranchKeyOutageServesTheCachedKeyWithinGrace(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeBranchKMS(t)
	layer := newBranchLayer(t, kms, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch}, clock)
	first, err := layer.GenerateDataKey(ctx, wfIn("default", 1))
	if err != nil {
		t.Fatal(err)
	}
	kms.setFail(primitives.Errorf(primitives.CodeKmsUnavailable, "KMS GenerateDataKey with k failed"))
	clock.advance(time.Hour + 10*time.Minute)
	stale, err := layer.GenerateDataKey(ctx, wfIn("default", 2))
	bk1, _, _ := primitives.UnpackBranchWrapped(first.Wrapped)
	bk2, _, _ := primitives.UnpackBranchWrapped(stale.Wrapped)
	if err != nil || string(bk1) != string(bk2) {
		t.Fatalf("within grace: %v", err)
	}
	if _, err := layer.GenerateDataKey(ctx, wfIn("other", 1)); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("a namespace with no cached branch key must fail retryably: %v", err)
	}
	clock.advance(6 * time.Minute)
	if _, err := layer.GenerateDataKey(ctx, wfIn("default", 3)); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("past grace: %v", err)
	}
	clock.now = clock.now.Add(-6 * time.Minute)
	kms.setFail(primitives.Errorf(primitives.CodeKmsAccessDenied, "denied"))
	if _, err := layer.GenerateDataKey(ctx, wfIn("default", 4)); primitives.CodeOf(err) != primitives.CodeKmsAccessDenied {
		t.Fatalf("a permanent refusal is not covered by the grace: %v", err)
	}
	kms.setFail(nil)
	if _, err := layer.GenerateDataKey(ctx, wfIn("default", 5)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestBranchKeyCachesAreBoundedExpireAndWipe(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	kms := newFakeBranchKMS(t)
	writer := newBranchLayer(t, kms, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch}, clock)
	reader := newBranchLayer(t, kms, BranchKeyOptions{MaxDecryptEntries: 1, DecryptMaxAge: 10 * time.Minute}, clock)
	a, _ := writer.GenerateDataKey(ctx, wfIn("a", 1))
	b, _ := writer.GenerateDataKey(ctx, wfIn("b", 1))
	if _, err := reader.DecryptDataKey(ctx, a.KeyID, a.Wrapped, wfIn("a", 1)); err != nil {
		t.Fatal(err)
	}
	reader.mu.Lock()
	var entryA *branchKeyEntry
	for _, el := range reader.opening.items {
		entryA = el.Value.(*lruItem[*branchKeyEntry]).value
	}
	reader.mu.Unlock()
	if _, err := reader.DecryptDataKey(ctx, b.KeyID, b.Wrapped, wfIn("b", 1)); err != nil {
		t.Fatal(err)
	}
	if _, o := reader.Stats(); o != 1 || !entryA.wiped || string(entryA.key) != string(make([]byte, 32)) {
		t.Fatalf("opening cache over its bound: %d entries, evicted key wiped=%v", o, entryA.wiped)
	}
	// Past DecryptMaxAge the branch key is unwrapped again, and the expired one is swept and wiped.
	reader.mu.Lock()
	var entryB *branchKeyEntry
	for _, el := range reader.opening.items {
		entryB = el.Value.(*lruItem[*branchKeyEntry]).value
	}
	reader.mu.Unlock()
	clock.advance(11 * time.Minute)
	before := kms.branchDecrypts.Load()
	if _, err := reader.DecryptDataKey(ctx, b.KeyID, b.Wrapped, wfIn("b", 2)); err != nil || kms.branchDecrypts.Load() != before+1 {
		t.Fatalf("expired branch key served from the cache: %v", err)
	}
	if !entryB.wiped {
		t.Fatal("expired branch key not wiped")
	}
	writer.Wipe()
	if s, o := writer.Stats(); s != 0 || o != 0 {
		t.Fatalf("after Wipe: %d %d", s, o)
	}
}

func TestBranchHierarchyNeedsABranchKeyWrapper(t *testing.T) {
	ring := newFakeBranchKMS(t)
	if _, err := NewBranchKeyProvider(kekOnly{ring}, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("branch over a provider without branch wrapping: %v", err)
	}
	if _, err := NewBranchKeyProvider(ring, BranchKeyOptions{Hierarchy: "tree"}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("unknown hierarchy: %v", err)
	}
	if _, err := NewBranchKeyProvider(ring, BranchKeyOptions{MaxAge: -time.Second}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("negative max age: %v", err)
	}
	if _, err := NewBranchKeyProvider(newBranchLayer(t, ring, BranchKeyOptions{}, nil), BranchKeyOptions{}); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
		t.Fatalf("a layer over a layer: %v", err)
	}
	// Per-workflow over such a provider: v1 goes through, a v2 key is UNSUPPORTED_FORMAT, not tampering.
	sealer := newBranchLayer(t, ring, BranchKeyOptions{Hierarchy: primitives.HierarchyBranch}, nil)
	v2, _ := sealer.GenerateDataKey(ctx, wf1)
	plain := newBranchLayer(t, kekOnly{ring}, BranchKeyOptions{}, nil)
	if _, err := plain.DecryptDataKey(ctx, v2.KeyID, v2.Wrapped, wf1); primitives.CodeOf(err) != primitives.CodeUnsupportedFormat {
		t.Fatalf("v2 through a provider without branch wrapping: %v", err)
	}
	v1, err := plain.GenerateDataKey(ctx, wf1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := primitives.UnpackBranchWrapped(v1.Wrapped); ok || ring.generates.Load() != 1 {
		t.Fatal("per-workflow did not pass through to the KEK provider")
	}
	if key, err := plain.DecryptDataKey(ctx, v1.KeyID, v1.Wrapped, wf1); err != nil || string(key) != string(v1.Plaintext) {
		t.Fatalf("v1 through the layer: %v", err)
	}
}

// The local keyring wraps a branch key under its own additional data: it never unwraps as a data
// key of the namespace, nor a data key as a branch key.
func TestLocalBranchWrapIsApartFromDataKeys(t *testing.T) {
	ring := newFakeKMS(t).LocalKeyring
	bk, err := ring.GenerateBranchKey(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ring.DecryptBranchKey(ctx, bk.KeyID, bk.Wrapped, "default"); err != nil || string(back) != string(bk.Plaintext) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ring.DecryptBranchKey(ctx, bk.KeyID, bk.Wrapped, "other"); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("another namespace: %v", err)
	}
	if _, err := ring.DecryptDataKey(ctx, bk.KeyID, bk.Wrapped, primitives.Scope{Namespace: "default"}); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("branch key as a data key: %v", err)
	}
	dk, _ := ring.GenerateDataKey(ctx, primitives.Scope{Namespace: "default"})
	if _, err := ring.DecryptBranchKey(ctx, dk.KeyID, dk.Wrapped, "default"); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("data key as a branch key: %v", err)
	}
}
