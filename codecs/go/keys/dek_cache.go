package keys

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// CacheLimits bound how long and how much one data key is used. Zero fields take the defaults
// below, the same as keys/dek-cache.ts.
type CacheLimits struct {
	// MaxAge: how long one data key seals new payloads for a scope before a fresh one is made. Default 1 h.
	MaxAge time.Duration
	// MaxPayloadsPerKey: payloads one data key may seal. Default 2^20; never above the cipher's own limit.
	MaxPayloadsPerKey uint64
	// MaxBytesPerKey: plaintext bytes one data key may seal. Default 2^36 (64 GiB).
	MaxBytesPerKey uint64
	// MaxEntries: scopes (workflows) whose sealing keys stay cached. Default 10,000.
	MaxEntries int
	// MaxDecryptEntries: unwrapped keys kept for opening, by wrapped bytes. Default 10,000.
	MaxDecryptEntries int
	// DecryptMaxAge: how long an unwrapped key stays cached for opening. Default 1 h.
	DecryptMaxAge time.Duration
	// StaleGrace: while KMS is unavailable, a key past MaxAge keeps sealing for this long (its
	// payload and byte limits still hold), so workers ride out a KMS outage. Default 15 min;
	// negative turns the grace off.
	StaleGrace time.Duration
}

// DefaultCacheLimits are the limits a zero CacheLimits means.
var DefaultCacheLimits = CacheLimits{
	MaxAge:            time.Hour,
	MaxPayloadsPerKey: 1 << 20,
	MaxBytesPerKey:    1 << 36,
	MaxEntries:        10_000,
	MaxDecryptEntries: 10_000,
	DecryptMaxAge:     time.Hour,
	StaleGrace:        15 * time.Minute,
}

// resolve applies defaults and validates, naming the bad field.
func (l CacheLimits) resolve(cipherLimit uint64) (CacheLimits, error) {
	d := DefaultCacheLimits
	bad := func(field string, v any) error {
		return primitives.Errorf(primitives.CodeInvalidConfig, "cache %q expected a positive value, got %v", field, v)
	}
	switch {
	case l.MaxAge < 0:
		return l, bad("maxAge", l.MaxAge)
	case l.DecryptMaxAge < 0:
		return l, bad("decryptMaxAge", l.DecryptMaxAge)
	case l.MaxEntries < 0:
		return l, bad("maxEntries", l.MaxEntries)
	case l.MaxDecryptEntries < 0:
		return l, bad("maxDecryptEntries", l.MaxDecryptEntries)
	}
	if l.MaxAge != 0 {
		d.MaxAge = l.MaxAge
	}
	if l.MaxPayloadsPerKey != 0 {
		d.MaxPayloadsPerKey = l.MaxPayloadsPerKey
	}
	if l.MaxBytesPerKey != 0 {
		d.MaxBytesPerKey = l.MaxBytesPerKey
	}
	if l.MaxEntries != 0 {
		d.MaxEntries = l.MaxEntries
	}
	if l.MaxDecryptEntries != 0 {
		d.MaxDecryptEntries = l.MaxDecryptEntries
	}
	if l.DecryptMaxAge != 0 {
		d.DecryptMaxAge = l.DecryptMaxAge
	}
	switch {
	case l.StaleGrace < 0:
		d.StaleGrace = 0
	case l.StaleGrace > 0:
		d.StaleGrace = l.StaleGrace
	}
	if d.MaxPayloadsPerKey > cipherLimit {
		return l, primitives.Errorf(primitives.CodeInvalidConfig, "cache %q expected at most %d (the cipher's safe limit), got %d", "maxPayloadsPerKey", cipherLimit, d.MaxPayloadsPerKey)
	}
	return d, nil
}

type encryptEntry struct {
	key      []byte
	wrapped  []byte
	keyID    string
	created  time.Time
	payloads uint64
	bytes    uint64
	// wiped is set when the entry leaves the cache and its key is zeroed; a caller that waited for
	// it must not use it.
	wiped bool
}

type decryptEntry struct {
	key     []byte
	expires time.Time
	wiped   bool
}

// Lease is a copy of a data key for one use. The caller wipes Key (clear) after sealing, so cache
// eviction never races a use.
type Lease struct {
	Key     []byte
	Wrapped []byte
	KeyID   string
}

// CacheOptions configure NewDataKeyCache.
type CacheOptions struct {
	Limits   CacheLimits
	Observer Observer
	Clock    func() time.Time
	// CipherMessageLimit is the cipher's ceiling, against which MaxPayloadsPerKey is checked.
	// Default 2^32.
	CipherMessageLimit uint64
}

// DataKeyCache holds data keys by scope for sealing and by wrapped bytes for opening, so KMS is
// called once per scope per key lifetime rather than once per payload. Concurrent misses for the
// same key share one provider call (singleflight). Key bytes are wiped when an entry leaves the
// cache, and callers always get copies.
type DataKeyCache struct {
	provider KeyProvider
	limits   CacheLimits
	clock    func() time.Time
	observer Observer

	mu      sync.Mutex
	encrypt *lru[*encryptEntry]
	decrypt *lru[*decryptEntry]
	flights singleflight.Group
}

// NewDataKeyCache validates the limits and returns an empty cache in front of provider.
func NewDataKeyCache(provider KeyProvider, opts CacheOptions) (*DataKeyCache, error) {
	cipherLimit := opts.CipherMessageLimit
	if cipherLimit == 0 {
		cipherLimit = 1 << 32
	}
	limits, err := opts.Limits.resolve(cipherLimit)
	if err != nil {
		return nil, err
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	c := &DataKeyCache{provider: provider, limits: limits, clock: clock, observer: opts.Observer}
	c.encrypt = newLRU(limits.MaxEntries, func(e *encryptEntry) {
		e.wiped = true
		clear(e.key)
	})
	c.decrypt = newLRU(limits.MaxDecryptEntries, func(e *decryptEntry) {
		e.wiped = true
		clear(e.key)
	})
	return c, nil
}

// Limits are the limits in force, defaults applied.
func (c *DataKeyCache) Limits() CacheLimits { return c.limits }

// LeaseForEncrypt returns a key to seal one payload of plaintextBytes for scope.
func (c *DataKeyCache) LeaseForEncrypt(ctx context.Context, scope primitives.Scope, algorithm primitives.Algorithm, plaintextBytes int) (Lease, error) {
	id := string(algorithm) + "|" + scope.Key()
	n := uint64(plaintextBytes)
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.Lock()
		cached, _ := c.encrypt.get(id)
		if cached != nil && c.fresh(cached) && c.hasRoom(cached, n) {
			lease := c.take(cached, n)
			c.mu.Unlock()
			c.hit("encrypt")
			return lease, nil
		}
		c.mu.Unlock()
		c.miss("encrypt")
		v, err, _ := c.flights.Do("e\x00"+id, func() (any, error) { return c.generate(ctx, id, scope) })
		if err != nil {
			// KMS is down: a key past its age but within the grace period and its usage limits
			// keeps the worker sealing rather than failing every workflow task.
			c.mu.Lock()
			if cached != nil && primitives.IsRetryable(err) && c.withinGrace(cached) && c.hasRoom(cached, n) {
				lease := c.take(cached, n)
				c.mu.Unlock()
				return lease, nil
			}
			c.mu.Unlock()
			return Lease{}, err
		}
		entry := v.(*encryptEntry)
		c.mu.Lock()
		if c.hasRoom(entry, n) {
			lease := c.take(entry, n)
			c.mu.Unlock()
			return lease, nil
		}
		c.mu.Unlock()
		// Other callers used the new key up between its arrival and us: go round again.
	}
	return Lease{}, primitives.Errorf(primitives.CodeKeyLimitExceeded, "data key for %s reached its usage limit repeatedly; retry", scope.Describe())
}

// LeaseForDecrypt returns (a copy of) the unwrapped key for a wrapped data key. Seeded by our own
// sealing, so a worker reading back its own payloads calls no KMS.
func (c *DataKeyCache) LeaseForDecrypt(ctx context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error) {
	id := decryptID(keyID, wrapped, scope)
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.Lock()
		if e, ok := c.decrypt.get(id); ok {
			if c.clock().Before(e.expires) {
				key := clone(e.key)
				c.mu.Unlock()
				c.hit("decrypt")
				return key, nil
			}
			c.decrypt.delete(id)
		}
		c.mu.Unlock()
		c.miss("decrypt")
		v, err, _ := c.flights.Do("d\x00"+id, func() (any, error) {
			key, err := c.timed("decrypt", func() ([]byte, error) { return c.provider.DecryptDataKey(ctx, keyID, wrapped, scope) })
			if err != nil {
				return nil, err
			}
			own := &decryptEntry{key: clone(key), expires: c.clock().Add(c.limits.DecryptMaxAge)}
			clear(key)
			c.mu.Lock()
			c.decrypt.set(id, own)
			c.mu.Unlock()
			return own, nil
		})
		if err != nil {
			return nil, err
		}
		// The entry belongs to the cache; every caller that shared the flight copies it, unless it
		// was evicted (and wiped) in the meantime: then go round again.
		entry := v.(*decryptEntry)
		c.mu.Lock()
		if !entry.wiped {
			key := clone(entry.key)
			c.mu.Unlock()
			return key, nil
		}
		c.mu.Unlock()
	}
	return nil, primitives.Errorf(primitives.CodeKeyLimitExceeded, "unwrapped key for %s was evicted repeatedly before use; retry (is the decrypt cache too small?)", scope.Describe())
}

// Clear forgets every key (after a KEK is retired, say); their bytes are wiped.
func (c *DataKeyCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.encrypt.clear()
	c.decrypt.clear()
}

// Stats counts cached entries.
func (c *DataKeyCache) Stats() (encryptEntries, decryptEntries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.encrypt.len(), c.decrypt.len()
}

func (c *DataKeyCache) generate(ctx context.Context, id string, scope primitives.Scope) (*encryptEntry, error) {
	var dk GeneratedDataKey
	_, err := c.timed("generate", func() ([]byte, error) {
		var err error
		dk, err = c.provider.GenerateDataKey(ctx, scope)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	defer clear(dk.Plaintext)
	if len(dk.Plaintext) != primitives.KeyBytes {
		return nil, primitives.Errorf(primitives.CodeKmsUnavailable, "key provider %s returned a %d-byte data key", c.provider.Name(), len(dk.Plaintext))
	}
	entry := &encryptEntry{key: clone(dk.Plaintext), wrapped: clone(dk.Wrapped), keyID: dk.KeyID, created: c.clock()}
	c.mu.Lock()
	c.encrypt.set(id, entry)
	c.decrypt.set(decryptID(entry.keyID, entry.wrapped, scope), &decryptEntry{key: clone(entry.key), expires: c.clock().Add(c.limits.DecryptMaxAge)})
	c.mu.Unlock()
	return entry, nil
}

// The three checks below run under c.mu.

func (c *DataKeyCache) fresh(e *encryptEntry) bool {
	return c.clock().Sub(e.created) < c.limits.MaxAge && e.keyID == c.provider.PrimaryKeyID()
}

func (c *DataKeyCache) withinGrace(e *encryptEntry) bool {
	return c.clock().Sub(e.created) < c.limits.MaxAge+c.limits.StaleGrace
}

func (c *DataKeyCache) hasRoom(e *encryptEntry, n uint64) bool {
	return !e.wiped && e.payloads < c.limits.MaxPayloadsPerKey && e.bytes+n <= c.limits.MaxBytesPerKey
}

func (c *DataKeyCache) take(e *encryptEntry, n uint64) Lease {
	e.payloads++
	e.bytes += n
	return Lease{Key: clone(e.key), Wrapped: e.wrapped, KeyID: e.keyID}
}

func (c *DataKeyCache) timed(op string, call func() ([]byte, error)) (out []byte, err error) {
	err = c.observer.kmsCall(op, c.provider.Name(), func() error { out, err = call(); return err })
	return out, err
}

func (c *DataKeyCache) hit(cache string) {
	if c.observer.OnCacheHit != nil {
		c.observer.OnCacheHit(cache)
	}
}

func (c *DataKeyCache) miss(cache string) {
	if c.observer.OnCacheMiss != nil {
		c.observer.OnCacheMiss(cache)
	}
}

// decryptID keys the decrypt cache: key id, scope and the wrapped bytes themselves (a Go string
// holds any bytes). Not a hash: only keys that unwrapped successfully are stored, so hostile input
// cannot fill the cache with long ids.
func decryptID(keyID string, wrapped []byte, scope primitives.Scope) string {
	return keyID + "\x00" + scope.Key() + "\x00" + string(wrapped)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
