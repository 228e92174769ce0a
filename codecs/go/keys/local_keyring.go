package keys

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// DefaultKeyringPath is ~/.temporal-envelope/keyring.json, the TypeScript tools' default too.
func DefaultKeyringPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".temporal-envelope", "keyring.json")
}

// LocalKeyringOptions configure OpenLocalKeyring.
type LocalKeyringOptions struct {
	// Path of the keyring file. Default DefaultKeyringPath().
	Path string
	// Create a keyring (one fresh primary KEK) when the file is missing. Off by default, unlike the
	// TypeScript codec: a Go worker usually joins a fleet whose keyring already exists, and a
	// mistyped path must fail loudly rather than seal with a key nobody else holds.
	Create bool
	// WatchInterval: how often the file is polled so a `keys rotate` reaches a running worker.
	// 0 means DefaultWatchInterval (2 s); negative turns watching off.
	WatchInterval time.Duration
	// AllowInsecurePermissions skips the mode-0600 check (filesystems without modes).
	AllowInsecurePermissions bool
	// Warn is told when a keyring is created and when a reload fails. Default: the standard logger.
	Warn func(message string)
	// Random is the source of data keys and nonces. Default crypto/rand; only tests replace it.
	Random io.Reader
}

type loadedKek struct {
	id       string
	version  int
	state    KekState
	created  string
	material []byte // nil once destroyed
}

// LocalKeyring is the embedded KEK provider: KEKs live in a local JSON file (mode 0600) and wrap
// data keys with AES-256-GCM, the scope bound as additional data. For development and single-host
// set-ups; in production the KEK belongs in a KMS, where it never leaves the HSM.
type LocalKeyring struct {
	path   string
	opts   LocalKeyringOptions
	random io.Reader

	mu      sync.RWMutex // guards keks and primary; held for reading during each wrap/unwrap
	keks    map[string]*loadedKek
	primary *loadedKek

	version fileVersion

	watch *fileWatch
}

const memoryPath = "(memory)"

var wrapLabel = []byte("temporal-envelope/v1/dek")

// Branch keys (format v2) are wrapped for their namespace under a label no data key's wrap has.
var branchWrapLabel = []byte("temporal-envelope/v2/branch-key")

// OpenLocalKeyring reads the keyring file and, unless WatchInterval < 0, re-reads it whenever it
// changes. A broken file at start-up is an error; a broken file later is reported through Warn and
// the loaded keys are kept, so a half-edited file cannot take a running worker down.
func OpenLocalKeyring(opts LocalKeyringOptions) (*LocalKeyring, error) {
	path := opts.Path
	if path == "" {
		path = DefaultKeyringPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s: cannot resolve the path", path)
	}
	if opts.Warn == nil {
		opts.Warn = func(m string) { log.Print(m) }
	}
	if _, err := os.Stat(abs); os.IsNotExist(err) {
		if !opts.Create {
			return nil, primitives.Errorf(primitives.CodeKeyringError, "keyring %s does not exist; create it with \"temporal-envelope keys init\"", abs)
		}
		doc, err := NewKeyringDocument()
		if err != nil {
			return nil, err
		}
		if err := WriteKeyring(abs, doc); err != nil {
			return nil, err
		}
		opts.Warn(fmt.Sprintf("temporal-envelope: created a local development keyring at %s. Its keys are only as safe as that file: use a KMS in production.", abs))
	}
	ring := newLocalKeyring(abs, opts)
	if err := ring.Reload(); err != nil {
		return nil, err
	}
	interval := opts.WatchInterval
	if interval == 0 {
		interval = DefaultWatchInterval
	}
	if interval > 0 {
		ring.watch = watchFile(interval, ring.ReloadIfChanged, func(err error) {
			opts.Warn(fmt.Sprintf("temporal-envelope: keyring reload failed, keeping the loaded keys: %v", err))
		})
	}
	return ring, nil
}

// LocalKeyringFromDocument builds a keyring from a document in memory (tests, known-answer vectors,
// the vector tool). random may be nil (crypto/rand).
func LocalKeyringFromDocument(doc KeyringDocument, random io.Reader) (*LocalKeyring, error) {
	ring := newLocalKeyring(memoryPath, LocalKeyringOptions{Random: random})
	if err := ring.load(doc); err != nil {
		return nil, err
	}
	return ring, nil
}

func newLocalKeyring(path string, opts LocalKeyringOptions) *LocalKeyring {
	random := opts.Random
	if random == nil {
		random = rand.Reader
	}
	return &LocalKeyring{path: path, opts: opts, random: random, keks: map[string]*loadedKek{}}
}

// Path is the keyring file ("(memory)" for one built from a document).
func (r *LocalKeyring) Path() string { return r.path }

// Reload re-reads the file now.
func (r *LocalKeyring) Reload() error {
	return r.version.reload(r.path, r.statError, r.readAndLoad)
}

// ReloadIfChanged re-reads the file if its modification time, size or mode changed since the last read.
func (r *LocalKeyring) ReloadIfChanged() (bool, error) {
	return r.version.reloadIfChanged(r.path, r.statError, r.readAndLoad)
}

func (r *LocalKeyring) statError(err error) error {
	return primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be read: %s", r.path, errnoName(err))
}

func (r *LocalKeyring) readAndLoad() error {
	doc, err := ReadKeyring(r.path, r.opts.AllowInsecurePermissions)
	if err != nil {
		return err
	}
	return r.load(doc)
}

func (r *LocalKeyring) load(doc KeyringDocument) error {
	next := make(map[string]*loadedKek, len(doc.Keys))
	var primary *loadedKek
	for _, e := range doc.Keys {
		k := &loadedKek{id: e.ID, version: e.Version, state: e.State, created: e.Created}
		if e.Material != "" {
			m, problem := decodeKeyBytes(e.Material, primitives.KeyBytes)
			if problem != "" {
				return primitives.Errorf(primitives.CodeKeyringError, "keyring %s: key %q has no valid material", r.path, e.ID)
			}
			k.material = m
		}
		next[k.id] = k
		if k.state == KekPrimary {
			primary = k
		}
	}
	if primary == nil {
		return primitives.Errorf(primitives.CodeKeyringError, "keyring %s has no primary key", r.path)
	}
	r.mu.Lock()
	old := r.keks
	r.keks, r.primary = next, primary
	r.mu.Unlock()
	// Nobody can be using the old material now: every use holds the read lock.
	for _, k := range old {
		clear(k.material)
	}
	return nil
}

func (r *LocalKeyring) Name() string { return "local" }

func (r *LocalKeyring) PrimaryKeyID() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.primary.id
}

// Handles reports whether the keyring holds keyID. For an id it does not hold, a watched keyring
// first looks at the file (see knownAfterRefresh).
func (r *LocalKeyring) Handles(keyID string) bool {
	if r.holds(keyID) {
		return true
	}
	if r.watch == nil {
		return false
	}
	return knownAfterRefresh(r.ReloadIfChanged, func() bool { return r.holds(keyID) })
}

func (r *LocalKeyring) holds(keyID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.keks[keyID]
	return ok
}

func (r *LocalKeyring) GenerateDataKey(_ context.Context, scope primitives.Scope) (GeneratedDataKey, error) {
	return r.generate(func(kekID string) []byte { return wrapAAD(kekID, scope) })
}

func (r *LocalKeyring) DecryptDataKey(_ context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error) {
	return r.unwrap(keyID, wrapped, wrapAAD(keyID, scope), "data key")
}

// GenerateBranchKey makes a namespace's branch key (format v2), wrapped by the primary KEK with
// the branch-key additional data.
func (r *LocalKeyring) GenerateBranchKey(_ context.Context, namespace string) (GeneratedDataKey, error) {
	return r.generate(func(kekID string) []byte { return branchWrapAAD(kekID, namespace) })
}

// DecryptBranchKey unwraps a namespace's branch key.
func (r *LocalKeyring) DecryptBranchKey(_ context.Context, keyID string, wrapped []byte, namespace string) ([]byte, error) {
	return r.unwrap(keyID, wrapped, branchWrapAAD(keyID, namespace), "branch key")
}

// generate draws 32 random bytes and wraps them: the key first, then the wrap's nonce, from the
// same source (the order the known-answer vectors were sealed in).
func (r *LocalKeyring) generate(aad func(kekID string) []byte) (GeneratedDataKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kek := r.primary
	if kek.material == nil {
		return GeneratedDataKey{}, primitives.Errorf(primitives.CodeKeyRetired, "key %q was destroyed", kek.id)
	}
	dek := make([]byte, primitives.KeyBytes)
	if _, err := io.ReadFull(r.random, dek); err != nil {
		return GeneratedDataKey{}, fmt.Errorf("data key: %w", err)
	}
	wrapped, err := primitives.Seal(primitives.AES256GCM, kek.material, dek, aad(kek.id), r.random)
	if err != nil {
		clear(dek)
		return GeneratedDataKey{}, err
	}
	return GeneratedDataKey{Plaintext: dek, Wrapped: wrapped, KeyID: kek.id}, nil
}

func (r *LocalKeyring) unwrap(keyID string, wrapped, aad []byte, what string) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kek, ok := r.keks[keyID]
	if !ok {
		return nil, primitives.Errorf(primitives.CodeUnknownKey, "key %q is not in keyring %s", keyID, r.path)
	}
	if kek.state == KekRetired {
		return nil, primitives.Errorf(primitives.CodeKeyRetired, "key %q is retired and no longer decrypts", keyID)
	}
	if kek.material == nil {
		return nil, primitives.Errorf(primitives.CodeKeyRetired, "key %q was destroyed", keyID)
	}
	key, err := primitives.Open(primitives.AES256GCM, kek.material, wrapped, aad)
	if err != nil {
		return nil, err
	}
	if len(key) != primitives.KeyBytes {
		clear(key)
		return nil, primitives.Errorf(primitives.CodeMalformedPayload, "wrapped %s expected %d bytes inside, got %d", what, primitives.KeyBytes, len(key))
	}
	return key, nil
}

func (r *LocalKeyring) ListKeys(context.Context) ([]KekInfo, error) {
	r.mu.RLock()
	ks := make([]*loadedKek, 0, len(r.keks))
	for _, k := range r.keks {
		ks = append(ks, k)
	}
	r.mu.RUnlock()
	sort.Slice(ks, func(i, j int) bool { return ks[i].version < ks[j].version })
	out := make([]KekInfo, len(ks))
	for i, k := range ks {
		out[i] = KekInfo{ID: k.id, Provider: "local", State: k.state, Created: k.created}
	}
	return out, nil
}

func (r *LocalKeyring) CheckReady(context.Context) error {
	if r.path != memoryPath {
		if _, err := r.ReloadIfChanged(); err != nil {
			return err
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.primary.material == nil {
		return primitives.Errorf(primitives.CodeKeyRetired, "key %q was destroyed", r.primary.id)
	}
	return nil
}

// Close stops watching the file.
func (r *LocalKeyring) Close() error {
	r.watch.close()
	return nil
}

// wrapAAD binds a wrapped data key to its KEK and scope: label ‖ KEK id ‖ namespace ‖ workflow
// flag+id, length-prefixed (docs/wire-format.md).
func wrapAAD(keyID string, scope primitives.Scope) []byte {
	wf := []byte{0}
	if scope.HasWorkflow() {
		wf = append([]byte{1}, scope.WorkflowID...)
	}
	return primitives.LengthPrefixed(wrapLabel, []byte(keyID), []byte(scope.Namespace), wf)
}

// branchWrapAAD binds a wrapped branch key to its KEK and namespace: label ‖ KEK id ‖ namespace,
// length-prefixed (docs/wire-format.md, "Version 2").
func branchWrapAAD(keyID, namespace string) []byte {
	return primitives.LengthPrefixed(branchWrapLabel, []byte(keyID), []byte(namespace))
}
