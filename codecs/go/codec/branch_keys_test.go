package codec_test

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// KeyHierarchy decides only what is sealed: "branch" seals format v2, the default v1, and every
// codec opens both.
func TestKeyHierarchyDecidesTheFormatAndEveryCodecOpensBoth(t *testing.T) {
	ring := newRing(t)
	v1 := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}})
	v2 := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, KeyHierarchy: primitives.HierarchyBranch})
	if v1.KeyHierarchy() != primitives.HierarchyPerWorkflow || v2.KeyHierarchy() != primitives.HierarchyBranch {
		t.Fatalf("hierarchies %q %q", v1.KeyHierarchy(), v2.KeyHierarchy())
	}
	in := jsonPayload(`{"token":"dlg_canary"}`)
	s1, err := v1.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := v2.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if meta(s1[0], "envelope-version") != "1" || meta(s1[0], "envelope-dek") == "" || meta(s1[0], "envelope-branch-key") != "" {
		t.Fatalf("default sealed %v", s1[0].Metadata)
	}
	if meta(s2[0], "envelope-version") != "2" || meta(s2[0], "envelope-dek") != "" || len(s2[0].Metadata["envelope-branch-key"]) != 60 || len(s2[0].Metadata["envelope-dek-salt"]) != 32 {
		t.Fatalf("branch sealed %v", s2[0].Metadata)
	}
	if strings.Contains(string(s2[0].Data), "dlg_canary") {
		t.Fatal("plaintext in the sealed payload")
	}
	for _, reader := range []*codec.Codec{v1, v2, newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}})} {
		for _, sealed := range [][]*commonpb.Payload{s1, s2} {
			out, err := reader.WithSerializationContext(wfCtx("w")).Decode(sealed)
			if err != nil || !proto.Equal(out[0], in) {
				t.Fatalf("%s reading v%s: %v", reader.KeyHierarchy(), meta(sealed[0], "envelope-version"), err)
			}
			if _, err := reader.WithSerializationContext(wfCtx("other")).Decode(sealed); primitives.CodeOf(err) != primitives.CodeScopeMismatch {
				t.Fatalf("another workflow: %v", err)
			}
		}
	}
	if s, o := v2.BranchKeyStats(); s != 1 || o != 1 {
		t.Fatalf("branch key stats %d %d", s, o)
	}
	v2.Close()
	if s, o := v2.BranchKeyStats(); s != 0 || o != 0 {
		t.Fatalf("after Close: %d %d", s, o)
	}
	if e, d := v2.Keys().Stats(); e != 0 || d != 0 {
		t.Fatalf("data keys after Close: %d %d", e, d)
	}
	if out, err := v2.WithSerializationContext(wfCtx("w")).Decode(s2); err != nil || !proto.Equal(out[0], in) {
		t.Fatalf("a closed codec fetches keys anew: %v", err)
	}
}

// The observer counts calls that reach the KEK provider: with branch keys, one per namespace for
// the writer and one per branch key for a reader, however many workflows.
func TestBranchKeysKeepKMSCallsPerNamespace(t *testing.T) {
	ring := newRing(t)
	var writerCalls, readerCalls atomic.Int64
	observe := func(n *atomic.Int64) keys.Observer {
		return keys.Observer{OnKMSCall: func(string, string, string, float64) { n.Add(1) }}
	}
	writer := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, KeyHierarchy: primitives.HierarchyBranch, Observer: observe(&writerCalls)})
	reader := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, Observer: observe(&readerCalls)})
	for i := 0; i < 200; i++ {
		ctx := wfCtx("wf-" + strconv.Itoa(i))
		sealed, err := writer.WithSerializationContext(ctx).Encode([]*commonpb.Payload{jsonPayload(`1`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.WithSerializationContext(ctx).Decode(sealed); err != nil {
			t.Fatal(err)
		}
	}
	if writerCalls.Load() != 1 || readerCalls.Load() != 1 {
		t.Fatalf("KMS calls for 200 workflows: writer %d, reader %d", writerCalls.Load(), readerCalls.Load())
	}
	// Per workflow (format v1), for comparison: one per workflow.
	var perWorkflow atomic.Int64
	v1 := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, Observer: observe(&perWorkflow)})
	for i := 0; i < 20; i++ {
		if _, err := v1.WithSerializationContext(wfCtx("wf-" + strconv.Itoa(i))).Encode([]*commonpb.Payload{jsonPayload(`1`)}); err != nil {
			t.Fatal(err)
		}
	}
	if perWorkflow.Load() != 20 {
		t.Fatalf("per-workflow KMS calls for 20 workflows: %d", perWorkflow.Load())
	}
}

func TestKeyHierarchyOptionIsValidated(t *testing.T) {
	ring := newRing(t)
	if _, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{ring}, KeyHierarchy: "tree"}); primitives.CodeOf(err) != primitives.CodeInvalidConfig || !strings.Contains(err.Error(), "keyHierarchy") {
		t.Fatalf("unknown hierarchy: %v", err)
	}
	// A provider that cannot wrap branch keys (here: one hiding LocalKeyring's branch methods).
	if _, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{failingProvider{ring}}, KeyHierarchy: primitives.HierarchyBranch}); primitives.CodeOf(err) != primitives.CodeInvalidConfig || !strings.Contains(err.Error(), "keyHierarchy") {
		t.Fatalf("branch over a provider without branch wrapping: %v", err)
	}
	if _, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{ring}, KeyHierarchy: primitives.HierarchyBranch, BranchKeyMaxAge: -1}); primitives.CodeOf(err) != primitives.CodeInvalidConfig || !strings.Contains(err.Error(), "branchKeyMaxAge") {
		t.Fatalf("negative branch key max age: %v", err)
	}
}

// A version-1 header whose wrapped DEK is the in-process form of a branch key is refused.
func TestAPackedBranchKeyInAVersion1HeaderIsRefused(t *testing.T) {
	c := newCodec(t, codec.Options{KeyHierarchy: primitives.HierarchyBranch})
	sealed, _ := c.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{jsonPayload(`{"a":1}`)})
	p := proto.Clone(sealed[0]).(*commonpb.Payload)
	p.Metadata["envelope-version"] = []byte("1")
	p.Metadata["envelope-dek"] = primitives.PackBranchWrapped(p.Metadata["envelope-branch-key"], p.Metadata["envelope-dek-salt"])
	delete(p.Metadata, "envelope-branch-key")
	delete(p.Metadata, "envelope-dek-salt")
	if _, err := c.Decode([]*commonpb.Payload{p}); primitives.CodeOf(err) != primitives.CodeMalformedPayload {
		t.Fatalf("packed pair in a version-1 header: %v", err)
	}
}
