// Package codec is the temporal-envelope PayloadCodec for go.temporal.io/sdk: it seals every
// payload with the data key (DEK) of the workflow it belongs to. The DEK is either wrapped by a
// key-encryption key (KEK) from a keys.KeyProvider and travels, wrapped, inside the payload
// (format v1, the default), or derived from a branch key per namespace that travels wrapped instead
// (format v2, KeyHierarchy "branch"). The bytes are those of the TypeScript and Python codecs
// (docs/wire-format.md), so a payload sealed by any of them opens in all of them.
//
//	Temporal Server <--> Wire <--> Codec <--> PayloadConverter <--> User code
//	                       ^ what history stores
package codec

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// Options configure New. The zero value of every field but KeyProviders is a secure default.
type Options struct {
	// KeyProviders: the first one's primary KEK wraps new data keys; any of them may unwrap.
	KeyProviders []keys.KeyProvider
	// DefaultNamespace seals payloads coded without a serialization context (and contexts that name
	// no namespace). Default "default"; set it to the namespace your worker or client uses.
	DefaultNamespace string
	// Algorithm for sealing; opening reads every supported algorithm. Default AES-256-GCM.
	Algorithm primitives.Algorithm
	// Compression "deflate" compresses payloads before sealing. Off by default: compressed length
	// reveals something about the plaintext (CRIME/BREACH-style probing when attacker-chosen and
	// secret data share a payload).
	Compression string
	// CompressionMinBytes: only payloads at least this large are compressed. Default 1024.
	CompressionMinBytes int
	// RequireEncryption refuses to decode a payload that is not encrypted (PLAINTEXT_REJECTED): it
	// stops someone with signal permission but no key from injecting plaintext input.
	RequireEncryption bool
	// AcceptNamespaceScoped accepts payloads sealed without a workflow id (e.g. by the codec
	// server's /encode for the UI) while decoding in a workflow context. Default off.
	AcceptNamespaceScoped bool
	// ScheduleRuns accepts in a schedule's run (id S-YYYY-MM-DDTHH:MM:SSZ) payloads sealed for the
	// schedule's action id S. nil means true (the default); point it at false to turn it off.
	ScheduleRuns *bool
	// KeyHierarchy decides how new data keys are made. "per-workflow" (the default, ""): one KMS
	// data key per workflow scope (format v1), so CloudTrail names each workflow. "branch": derived
	// from a branch key per namespace (format v2), so KMS is called once per namespace per
	// BranchKeyMaxAge, not once per workflow. Either way every format opens.
	KeyHierarchy primitives.KeyHierarchy
	// BranchKeyMaxAge: with KeyHierarchy "branch", how long one branch key makes new data keys for
	// a namespace. Default 1 h. Branch keys use Cache.StaleGrace, Cache.DecryptMaxAge and
	// Cache.MaxDecryptEntries too.
	BranchKeyMaxAge time.Duration
	// LegacyKeys: keys of the Temporal samples' encryption codec (keys.OpenLegacyKeyring, the file
	// `temporal-envelope keys import-legacy` writes). A payload in the samples' format whose
	// encryption-key-id names one of them is opened with it; nothing is ever sealed that way. Such
	// payloads carry no scope, so no scope check applies to them (SECURITY.md). Default none. The
	// codec does not close it.
	LegacyKeys *keys.LegacyKeyring
	// Cache limits for data keys (defaults: keys.DefaultCacheLimits).
	Cache keys.CacheLimits
	// Observer: OnKMSCall is told about every call that reaches a KEK provider (KMS), branch keys
	// included; a data key derived from a cached branch key is no KMS call.
	Observer keys.Observer
	Clock    func() time.Time
	// Random is the nonce source; only tests and known-answer vectors replace it. Default crypto/rand.
	Random io.Reader
}

// Codec is the envelope PayloadCodec. Register it with converter.NewCodecDataConverter (or use
// NewDataConverter); the SDK then hands it each call's serialization context through
// WithSerializationContext. Safe for concurrent use; share one per process so its data-key cache
// is what keeps KMS calls rare.
type Codec struct {
	keys                *keys.DataKeyCache
	providers           *keys.ProviderSet
	branchLayers        []*keys.BranchKeyProvider
	keyHierarchy        primitives.KeyHierarchy
	defaultNamespace    string
	algorithm           primitives.Algorithm
	compression         string
	compressionMinBytes int
	requireEncryption   bool
	rules               primitives.ScopeRules
	legacyKeys          *keys.LegacyKeyring
	random              io.Reader
	// opened: payloads the SignalInterceptor opened, let through RequireEncryption by identity.
	opened openedPayloads
}

var (
	_ converter.PayloadCodec                         = (*Codec)(nil)
	_ converter.PayloadCodecWithSerializationContext = (*Codec)(nil)
)

// New validates options (an INVALID_CONFIG error names the bad field) and returns a codec.
func New(opts Options) (*Codec, error) {
	if _, err := keys.NewProviderSet(opts.KeyProviders...); err != nil {
		return nil, err
	}
	hierarchy, err := primitives.ParseKeyHierarchy(string(opts.KeyHierarchy))
	if err != nil {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec %q expected \"per-workflow\" or \"branch\", got %q", "keyHierarchy", opts.KeyHierarchy)
	}
	// Every provider gets the branch-key layer, so this codec opens format v2 whatever it seals;
	// only the first one seals. The layer tells the observer about KMS calls: it alone sees which
	// calls reach KMS (a branch-derived data key does not), so the cache does not tell it again.
	cacheObserver := opts.Observer
	cacheObserver.OnKMSCall = nil
	layers := make([]*keys.BranchKeyProvider, len(opts.KeyProviders))
	layered := make([]keys.KeyProvider, len(opts.KeyProviders))
	for i, p := range opts.KeyProviders {
		h := primitives.HierarchyPerWorkflow
		if i == 0 {
			h = hierarchy
		}
		layers[i], err = keys.NewBranchKeyProvider(p, keys.BranchKeyOptions{
			Hierarchy: h, MaxAge: opts.BranchKeyMaxAge, StaleGrace: opts.Cache.StaleGrace, DecryptMaxAge: opts.Cache.DecryptMaxAge,
			MaxDecryptEntries: opts.Cache.MaxDecryptEntries, Observer: keys.Observer{OnKMSCall: opts.Observer.OnKMSCall}, Clock: opts.Clock, Random: opts.Random,
		})
		if err != nil {
			return nil, err
		}
		layered[i] = layers[i]
	}
	set, err := keys.NewProviderSet(layered...)
	if err != nil {
		return nil, err
	}
	c := &Codec{
		providers:           set,
		branchLayers:        layers,
		keyHierarchy:        hierarchy,
		defaultNamespace:    opts.DefaultNamespace,
		algorithm:           opts.Algorithm,
		compression:         opts.Compression,
		compressionMinBytes: opts.CompressionMinBytes,
		requireEncryption:   opts.RequireEncryption,
		rules:               primitives.ScopeRules{AcceptNamespaceScoped: opts.AcceptNamespaceScoped, ScheduleRuns: opts.ScheduleRuns == nil || *opts.ScheduleRuns},
		legacyKeys:          opts.LegacyKeys,
		random:              opts.Random,
	}
	if c.defaultNamespace == "" {
		c.defaultNamespace = "default"
	}
	if _, err := primitives.NewScope(c.defaultNamespace, ""); err != nil {
		return nil, primitives.Wrapf(primitives.CodeInvalidConfig, err, "codec %q expected a valid namespace (non-empty UTF-8, at most %d bytes)", "defaultNamespace", primitives.MaxScopeFieldBytes)
	}
	if c.algorithm == "" {
		c.algorithm = primitives.AES256GCM
	}
	if _, err := primitives.ParseAlgorithm(string(c.algorithm)); err != nil {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec %q expected AES-256-GCM or XCHACHA20-POLY1305, got %q", "algorithm", c.algorithm)
	}
	if c.compression != "" && c.compression != primitives.CompressionDeflate {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec %q expected \"deflate\" or \"\", got %q", "compression", c.compression)
	}
	if c.compressionMinBytes < 0 {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec %q expected a number >= 0, got %d", "compressionMinBytes", c.compressionMinBytes)
	}
	if c.compressionMinBytes == 0 {
		c.compressionMinBytes = 1024
	}
	c.keys, err = keys.NewDataKeyCache(set, keys.CacheOptions{
		Limits:             opts.Cache,
		Observer:           cacheObserver,
		Clock:              opts.Clock,
		CipherMessageLimit: c.algorithm.MaxMessagesPerKey(),
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Keys is the codec's data-key cache (for stats and for clearing it).
func (c *Codec) Keys() *keys.DataKeyCache { return c.keys }

// KeyHierarchy is how this codec makes new data keys (it opens both formats either way).
func (c *Codec) KeyHierarchy() primitives.KeyHierarchy { return c.keyHierarchy }

// BranchKeyStats counts cached branch keys over every key provider: for sealing (one per
// namespace) and for opening (one per distinct wrapped branch key read).
func (c *Codec) BranchKeyStats() (sealingEntries, openingEntries int) {
	for _, l := range c.branchLayers {
		s, o := l.Stats()
		sealingEntries, openingEntries = sealingEntries+s, openingEntries+o
	}
	return sealingEntries, openingEntries
}

// Close wipes every key this codec holds (data keys and branch keys). The key providers it was
// given stay open: they are the caller's to close. A closed codec still works, fetching keys anew.
func (c *Codec) Close() {
	c.keys.Clear()
	for _, l := range c.branchLayers {
		l.Wipe()
	}
}

// DefaultNamespace is the namespace used when no context names one.
func (c *Codec) DefaultNamespace() string { return c.defaultNamespace }

// Encode seals payloads without a serialization context: to the default namespace's scope.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return sdkError(c.EncodeInScope(payloads, primitives.Scope{Namespace: c.defaultNamespace}))
}

// Decode opens payloads without a serialization context: no scope check.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return sdkError(c.DecodeInScope(payloads, nil))
}

// WithSerializationContext is how the SDK tells the codec which workflow a call belongs to. A
// workflow context, or an activity context that names its workflow, seals to that workflow and is
// checked on decode; an activity without a workflow (standalone) seals to its namespace and is
// checked against it. Nil and Nexus contexts (which name no namespace) are treated as no context:
// sealed to the default namespace, not checked.
func (c *Codec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	scope, checked, err := c.ScopeFor(sc)
	return &scopedCodec{codec: c, scope: scope, err: err, checked: checked}
}

// ScopeFor is the scope a serialization context seals to, and whether decoding in that context
// checks payloads against it.
func (c *Codec) ScopeFor(sc converter.SerializationContext) (scope primitives.Scope, checked bool, err error) {
	namespace, workflowID := "", ""
	switch ctx := sc.(type) {
	case converter.WorkflowSerializationContext:
		namespace, workflowID, checked = ctx.Namespace, ctx.WorkflowID, true
	case *converter.WorkflowSerializationContext:
		if ctx != nil {
			namespace, workflowID, checked = ctx.Namespace, ctx.WorkflowID, true
		}
	case converter.ActivitySerializationContext:
		namespace, workflowID, checked = ctx.Namespace, ctx.WorkflowID, true
	case *converter.ActivitySerializationContext:
		if ctx != nil {
			namespace, workflowID, checked = ctx.Namespace, ctx.WorkflowID, true
		}
	}
	if namespace == "" {
		namespace = c.defaultNamespace
	}
	scope, err = primitives.NewScope(namespace, workflowID)
	return scope, checked, err
}

// scopedCodec is the codec bound to one serialization context.
type scopedCodec struct {
	codec   *Codec
	scope   primitives.Scope
	err     error
	checked bool
}

func (s *scopedCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if s.err != nil {
		return sdkError(nil, s.err)
	}
	return sdkError(s.codec.EncodeInScope(payloads, s.scope))
}

func (s *scopedCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if s.err != nil {
		return sdkError(nil, s.err)
	}
	var expected *primitives.Scope
	if s.checked {
		expected = &s.scope
	}
	return sdkError(s.codec.DecodeInScope(payloads, expected))
}

func (s *scopedCodec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	return s.codec.WithSerializationContext(sc)
}

// sdkError hands the SDK our errors as converter.WorkflowTaskFailureError, so that inside a
// workflow task a payload that cannot be sealed or opened fails the task (Temporal retries it;
// the workflow decides nothing on input it could not read), as the TypeScript SDK does, instead of
// failing the workflow execution. errors.As still finds the *primitives.Error inside. Outside a
// workflow task the SDK treats it as an ordinary error.
func sdkError(out []*commonpb.Payload, err error) ([]*commonpb.Payload, error) {
	if err != nil {
		// Fail closed: never a payload next to an error.
		return nil, converter.NewWorkflowTaskFailureError(err)
	}
	return out, nil
}

// EncodeInScope seals payloads for an explicit scope (a codec server's /encode knows only the
// namespace). On error it returns no payloads at all: nothing unsealed ever leaves.
func (c *Codec) EncodeInScope(payloads []*commonpb.Payload, scope primitives.Scope) ([]*commonpb.Payload, error) {
	if _, err := primitives.NewScope(scope.Namespace, scope.WorkflowID); err != nil {
		return nil, err
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		sealed, err := c.sealOne(p, scope)
		if err != nil {
			return nil, err
		}
		out[i] = sealed
	}
	return out, nil
}

// DecodeInScope opens payloads; with expected non-nil it applies the scope rules to each.
func (c *Codec) DecodeInScope(payloads []*commonpb.Payload, expected *primitives.Scope) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		opened, err := c.openOne(p, expected)
		if err != nil {
			return nil, err
		}
		out[i] = opened
	}
	return out, nil
}

// Deterministic marshalling sorts metadata keys, so the same payload always seals the same
// plaintext bytes (protobufjs writes them in insertion order instead: see the README). It sorts
// through reflection, which allocates; with at most one key (most payloads) there is nothing to sort.
var deterministic = proto.MarshalOptions{Deterministic: true}

func marshal(p *commonpb.Payload) ([]byte, error) {
	if len(p.GetMetadata()) <= 1 {
		return proto.Marshal(p)
	}
	return deterministic.Marshal(p)
}

func (c *Codec) sealOne(p *commonpb.Payload, scope primitives.Scope) (*commonpb.Payload, error) {
	if p == nil {
		return nil, primitives.Errorf(primitives.CodeMalformedPayload, "payload expected a Payload, got nil")
	}
	plaintext, err := marshal(p)
	if err != nil {
		return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "payload cannot be serialized")
	}
	compression := ""
	if c.compression != "" && len(plaintext) >= c.compressionMinBytes {
		deflated, err := deflateRaw(plaintext)
		if err != nil {
			return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "payload cannot be compressed")
		}
		if len(deflated) < len(plaintext) {
			plaintext, compression = deflated, c.compression
		}
	}
	return c.SealPlaintext(plaintext, scope, compression)
}

// SealPlaintext seals already-serialized (and, with compression "deflate", already-compressed)
// payload bytes. Exposed for the known-answer tests, which re-seal another implementation's exact
// plaintext bytes; everything else goes through Encode.
func (c *Codec) SealPlaintext(plaintext []byte, scope primitives.Scope, compression string) (*commonpb.Payload, error) {
	lease, err := c.keys.LeaseForEncrypt(context.Background(), scope, c.algorithm, len(plaintext))
	if err != nil {
		return nil, err
	}
	defer clear(lease.Key)
	// A branch-derived data key seals in format v2, any other in v1: its wrapped form says which.
	header := primitives.HeaderFor(lease.KeyID, lease.Wrapped, scope, c.algorithm, compression)
	box, err := primitives.Seal(c.algorithm, lease.Key, plaintext, primitives.AdditionalData(header), c.random)
	if err != nil {
		return nil, err
	}
	return &commonpb.Payload{Metadata: primitives.SealedMetadata(header), Data: box}, nil
}

func (c *Codec) openOne(p *commonpb.Payload, expected *primitives.Scope) (*commonpb.Payload, error) {
	if p == nil {
		return nil, primitives.Errorf(primitives.CodeMalformedPayload, "payload expected a Payload, got nil")
	}
	if !primitives.IsEncryptedEncoding(p) {
		if c.requireEncryption && !c.opened.has(p) {
			return nil, primitives.Errorf(primitives.CodePlaintextRejected, "payload is not encrypted and this codec requires encryption")
		}
		return p, nil
	}
	if !primitives.IsEnvelopePayload(p) {
		if c.legacyKeys != nil {
			if keyID, samples := primitives.SamplesKeyIDOf(p); samples && c.legacyKeys.Knows(keyID) {
				return c.openLegacy(p, keyID)
			}
		}
		// Another product's format, not ours (docs/wire-format.md, "Decoding rules"): returned as
		// it came, as the TypeScript and Python codecs do and Temporal's codec chain expects, unless
		// this codec requires encryption: then it is refused like plaintext, failing closed.
		if c.requireEncryption && !c.opened.has(p) {
			return nil, primitives.Errorf(primitives.CodePlaintextRejected, "payload is binary/encrypted but not in the temporal-envelope format (no envelope-version) and its encryption-key-id is not a configured legacy key; this codec requires encryption")
		}
		return p, nil
	}
	plaintext, header, err := c.OpenPlaintext(p, expected)
	if err != nil {
		return nil, err
	}
	if header.Compression == primitives.CompressionDeflate {
		inflated, err := inflateRaw(plaintext, maxInflatedBytes)
		if err != nil {
			return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "sealed payload did not inflate")
		}
		plaintext = inflated
	}
	out := &commonpb.Payload{}
	if err := proto.Unmarshal(plaintext, out); err != nil {
		return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "sealed payload is not a temporal.api.common.v1.Payload")
	}
	return out, nil
}

// OpenPlaintext authenticates a sealed payload and returns the sealed bytes as they are (still
// compressed when the header says so) with its header. Exposed for the known-answer tests.
func (c *Codec) OpenPlaintext(p *commonpb.Payload, expected *primitives.Scope) ([]byte, primitives.Header, error) {
	header, err := primitives.ParseHeader(p)
	if err != nil {
		return nil, header, err
	}
	if expected != nil {
		if err := primitives.CheckScope(header.Scope, *expected, c.rules); err != nil {
			return nil, header, err
		}
	}
	key, err := c.keys.LeaseForDecrypt(context.Background(), header.KeyID, header.WrappedKey(), header.Scope)
	if err != nil {
		return nil, header, err
	}
	defer clear(key)
	plaintext, err := primitives.Open(header.Algorithm, key, p.GetData(), primitives.AdditionalData(header))
	return plaintext, header, err
}

// openLegacy opens a payload the samples' codec sealed: AES-256-GCM under the legacy key, no
// additional data. It is bound to no scope, so there is no scope to check: configuring the legacy
// key is the operator's consent, until `keys retire` takes it away.
func (c *Codec) openLegacy(p *commonpb.Payload, keyID string) (*commonpb.Payload, error) {
	box := p.GetData()
	if len(box) == 0 {
		return nil, primitives.Errorf(primitives.CodeMalformedPayload, "payload %q expected bytes (legacy key %q)", "data", keyID)
	}
	plaintext, err := c.legacyKeys.Decrypt(keyID, box)
	if err != nil {
		return nil, err
	}
	out := &commonpb.Payload{}
	if err := proto.Unmarshal(plaintext, out); err != nil {
		return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "legacy payload is not a temporal.api.common.v1.Payload")
	}
	return out, nil
}

// maxInflatedBytes bounds decompression (a deflate bomb); Temporal's own payload limit is 2 MB.
const maxInflatedBytes = 64 << 20

func deflateRaw(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func inflateRaw(b []byte, max int64) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("inflated past %d bytes", max)
	}
	return out, nil
}

// IsEnvelopeError reports whether err (or its chain) is one of ours.
func IsEnvelopeError(err error) bool {
	var e *primitives.Error
	return errors.As(err, &e)
}
