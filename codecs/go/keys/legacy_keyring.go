package keys

import (
	"fmt"
	"log"
	"path/filepath"
	"sync"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// LegacyKeyringOptions configure OpenLegacyKeyring.
type LegacyKeyringOptions struct {
	// Path of the legacy key file. Default DefaultLegacyKeysPath().
	Path string
	// WatchInterval: how often the file is polled, so a `keys retire` (or `keys import-legacy`)
	// reaches a running worker. 0 means DefaultWatchInterval (2 s); negative turns watching off.
	WatchInterval time.Duration
	// AllowInsecurePermissions skips the mode-0600 check (filesystems without modes).
	AllowInsecurePermissions bool
	// Warn is told when a reload fails. Default: the standard logger.
	Warn func(message string)
}

// LegacyKeyInfo describes a legacy key without its material.
type LegacyKeyInfo struct {
	ID        string
	Kind      string
	State     LegacyKeyState
	Added     string
	Retired   string
	Destroyed bool
}

type loadedLegacyKey struct {
	info     LegacyKeyInfo
	material []byte // nil once destroyed
}

// LegacyKeyring holds the keys of the Temporal samples' encryption codec (LegacyKeysFormat) for
// decrypting old payloads only: it has no way to seal, and the codec never writes the samples'
// format. Give it to the codec as Options.LegacyKeys. Safe for concurrent use.
type LegacyKeyring struct {
	path string
	opts LegacyKeyringOptions

	mu   sync.RWMutex // guards keys; held for reading during each decryption
	keys map[string]*loadedLegacyKey

	version fileVersion

	watch *fileWatch
}

// OpenLegacyKeyring reads the legacy key file and, unless WatchInterval < 0, re-reads it whenever
// it changes. A missing or broken file at start-up is an error (KEYRING_ERROR naming the file); a
// broken file later is reported through Warn and the loaded keys are kept.
func OpenLegacyKeyring(opts LegacyKeyringOptions) (*LegacyKeyring, error) {
	path := opts.Path
	if path == "" {
		path = DefaultLegacyKeysPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, primitives.Wrapf(primitives.CodeKeyringError, err, "legacy key file %s: cannot resolve the path", path)
	}
	if opts.Warn == nil {
		opts.Warn = func(m string) { log.Print(m) }
	}
	ring := &LegacyKeyring{path: abs, opts: opts, keys: map[string]*loadedLegacyKey{}}
	if err := ring.Reload(); err != nil {
		return nil, err
	}
	interval := opts.WatchInterval
	if interval == 0 {
		interval = DefaultWatchInterval
	}
	if interval > 0 {
		ring.watch = watchFile(interval, ring.ReloadIfChanged, func(err error) {
			opts.Warn(fmt.Sprintf("temporal-envelope: legacy key file reload failed, keeping the loaded keys: %v", err))
		})
	}
	return ring, nil
}

// LegacyKeyringFromDocument builds a legacy keyring from a document in memory (tests).
func LegacyKeyringFromDocument(doc LegacyKeysDocument) (*LegacyKeyring, error) {
	ring := &LegacyKeyring{path: memoryPath, keys: map[string]*loadedLegacyKey{}}
	if err := ring.load(doc); err != nil {
		return nil, err
	}
	return ring, nil
}

// Path is the legacy key file ("(memory)" for one built from a document).
func (r *LegacyKeyring) Path() string { return r.path }

// Reload re-reads the file now.
func (r *LegacyKeyring) Reload() error {
	return r.version.reload(r.path, r.statError, r.readAndLoad)
}

// ReloadIfChanged re-reads the file if its modification time, size or mode changed since the last read.
func (r *LegacyKeyring) ReloadIfChanged() (bool, error) {
	return r.version.reloadIfChanged(r.path, r.statError, r.readAndLoad)
}

func (r *LegacyKeyring) statError(err error) error { return legacyFileError(r.path, err) }

func (r *LegacyKeyring) readAndLoad() error {
	doc, err := ReadLegacyKeys(r.path, r.opts.AllowInsecurePermissions)
	if err != nil {
		return err
	}
	return r.load(doc)
}

func (r *LegacyKeyring) load(doc LegacyKeysDocument) error {
	next := make(map[string]*loadedLegacyKey, len(doc.Keys))
	for _, e := range doc.Keys {
		k := &loadedLegacyKey{info: LegacyKeyInfo{ID: e.ID, Kind: e.Kind, State: e.State, Added: e.Added, Retired: e.Retired, Destroyed: e.Material == ""}}
		if e.Material != "" {
			m, problem := decodeKeyBytes(e.Material, primitives.KeyBytes)
			if problem != "" {
				clear(m)
				for _, done := range next {
					clear(done.material)
				}
				return primitives.Errorf(primitives.CodeKeyringError, "legacy key file %s: key %q has no valid material", r.path, e.ID)
			}
			k.material = m
		}
		next[e.ID] = k
	}
	r.mu.Lock()
	old := r.keys
	r.keys = next
	r.mu.Unlock()
	// Nobody can be using the old material now: every use holds the read lock.
	for _, k := range old {
		clear(k.material)
	}
	return nil
}

// Knows reports whether keyID names a key in the file, usable or retired: its payloads are ours to
// answer for. For an id it does not hold, a watched keyring first looks at the file, so a key
// `keys import-legacy` added a moment ago is found at once (see knownAfterRefresh).
func (r *LegacyKeyring) Knows(keyID string) bool {
	if r.holds(keyID) {
		return true
	}
	if r.watch == nil {
		return false
	}
	return knownAfterRefresh(r.ReloadIfChanged, func() bool { return r.holds(keyID) })
}

func (r *LegacyKeyring) holds(keyID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.keys[keyID]
	return ok
}

// Decrypt opens a samples-format box (nonce ‖ ciphertext ‖ tag, no additional data) under the legacy
// key keyID; the material never leaves the keyring. UNKNOWN_KEY for an id not in the file,
// KEY_RETIRED for a retired (or destroyed) key, TAMPERED_CIPHERTEXT for a wrong key or altered bytes.
func (r *LegacyKeyring) Decrypt(keyID string, box []byte) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[keyID]
	if !ok {
		return nil, primitives.Errorf(primitives.CodeUnknownKey, "legacy key %q is not in %s", keyID, r.path)
	}
	if k.info.State == LegacyRetired || k.material == nil {
		destroyed := ""
		if k.material == nil {
			destroyed = " and destroyed"
		}
		return nil, primitives.Errorf(primitives.CodeKeyRetired, "legacy key %q is retired%s and no longer decrypts", keyID, destroyed)
	}
	return primitives.OpenSamples(k.material, box)
}

// List describes the legacy keys, without material, in no particular order.
func (r *LegacyKeyring) List() []LegacyKeyInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]LegacyKeyInfo, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k.info)
	}
	return out
}

// CheckReady re-reads the file if it changed (a readiness probe then reports a broken file).
func (r *LegacyKeyring) CheckReady() error {
	if r.path == memoryPath {
		return nil
	}
	_, err := r.ReloadIfChanged()
	return err
}

// Close stops watching the file.
func (r *LegacyKeyring) Close() error {
	r.watch.close()
	return nil
}
