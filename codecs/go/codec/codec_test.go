package codec_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

func newRing(t *testing.T) *keys.LocalKeyring {
	t.Helper()
	doc, err := keys.NewKeyringDocument()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func newCodec(t *testing.T, opts codec.Options) *codec.Codec {
	t.Helper()
	if opts.KeyProviders == nil {
		opts.KeyProviders = []keys.KeyProvider{newRing(t)}
	}
	c, err := codec.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonPayload(s string) *commonpb.Payload {
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(s)}
}

func wfCtx(id string) converter.SerializationContext {
	return converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: id}
}

func meta(p *commonpb.Payload, k string) string { return string(p.GetMetadata()[k]) }

func TestRoundTripSealsPerWorkflow(t *testing.T) {
	c := newCodec(t, codec.Options{})
	in := []*commonpb.Payload{jsonPayload(`{"token":"dlg_secret"}`), jsonPayload(`"approve"`)}
	inCopy := []*commonpb.Payload{proto.Clone(in[0]).(*commonpb.Payload), proto.Clone(in[1]).(*commonpb.Payload)}
	sealed, err := c.WithSerializationContext(wfCtx("wf-1")).Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range sealed {
		if meta(p, "encoding") != "binary/encrypted" || meta(p, "envelope-workflow-id") != "wf-1" || meta(p, "envelope-namespace") != "default" || meta(p, "envelope-version") != "1" {
			t.Fatalf("payload %d metadata %v", i, p.Metadata)
		}
		if bytes.Contains(p.Data, []byte("dlg_secret")) {
			t.Fatal("plaintext in the sealed payload")
		}
		if !proto.Equal(in[i], inCopy[i]) {
			t.Fatal("encode mutated its input")
		}
	}
	opened, err := c.WithSerializationContext(wfCtx("wf-1")).Decode(sealed)
	if err != nil || !proto.Equal(opened[0], in[0]) || !proto.Equal(opened[1], in[1]) {
		t.Fatalf("round trip: %v", err)
	}
	// An activity of the same workflow opens it; another workflow does not.
	act := converter.ActivitySerializationContext{Namespace: "default", WorkflowID: "wf-1", ActivityType: "a"}
	if _, err := c.WithSerializationContext(act).Decode(sealed); err != nil {
		t.Fatalf("activity of the workflow: %v", err)
	}
	_, err = c.WithSerializationContext(wfCtx("wf-2")).Decode(sealed)
	if primitives.CodeOf(err) != primitives.CodeScopeMismatch {
		t.Fatalf("other workflow: %v", err)
	}
	var marker *converter.WorkflowTaskFailureError
	if !errors.As(err, &marker) {
		t.Fatal("codec errors must reach the SDK as WorkflowTaskFailureError (fail the task, not the workflow)")
	}
	// No context: no scope check (the codec server's job is authorization, not this).
	if _, err := c.Decode(sealed); err != nil {
		t.Fatalf("no context: %v", err)
	}
	if out, err := c.Encode([]*commonpb.Payload{}); err != nil || len(out) != 0 {
		t.Fatal("an empty batch is valid")
	}
}

func TestContextsAndDefaultNamespace(t *testing.T) {
	c := newCodec(t, codec.Options{DefaultNamespace: "payments"})
	cases := []struct {
		sc     converter.SerializationContext
		ns, wf string
	}{
		{nil, "payments", ""},
		{converter.WorkflowSerializationContext{WorkflowID: "w"}, "payments", "w"},
		{converter.ActivitySerializationContext{Namespace: "ns2"}, "ns2", ""},
		{converter.ActivitySerializationContext{Namespace: "ns2", WorkflowID: "w2"}, "ns2", "w2"},
		{converter.NexusSerializationContext{Endpoint: "e"}, "payments", ""},
	}
	for _, k := range cases {
		out, err := c.WithSerializationContext(k.sc).Encode([]*commonpb.Payload{jsonPayload("1")})
		if err != nil {
			t.Fatal(err)
		}
		if meta(out[0], "envelope-namespace") != k.ns || meta(out[0], "envelope-workflow-id") != k.wf {
			t.Errorf("%#v sealed to %v", k.sc, out[0].Metadata)
		}
	}
	plain, _ := c.Encode([]*commonpb.Payload{jsonPayload("1")})
	if meta(plain[0], "envelope-namespace") != "payments" || meta(plain[0], "envelope-workflow-id") != "" {
		t.Fatalf("no context: %v", plain[0].Metadata)
	}
}

func TestScopeRulesThroughTheCodec(t *testing.T) {
	ring := newRing(t)
	strict := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}})
	lenient := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, AcceptNamespaceScoped: true})
	no := false
	noRuns := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{ring}, ScheduleRuns: &no})

	nsScoped, _ := strict.Encode([]*commonpb.Payload{jsonPayload("1")})
	if _, err := strict.WithSerializationContext(wfCtx("w")).Decode(nsScoped); primitives.CodeOf(err) != primitives.CodeScopeMismatch {
		t.Fatalf("namespace-scoped in a workflow, default: %v", err)
	}
	if _, err := lenient.WithSerializationContext(wfCtx("w")).Decode(nsScoped); err != nil {
		t.Fatalf("acceptNamespaceScoped: %v", err)
	}
	nsOnly := converter.ActivitySerializationContext{Namespace: "default"}
	if _, err := strict.WithSerializationContext(nsOnly).Decode(nsScoped); err != nil {
		t.Fatalf("namespace-only context: %v", err)
	}
	schedule, _ := strict.WithSerializationContext(wfCtx("nightly")).Encode([]*commonpb.Payload{jsonPayload("1")})
	run := wfCtx("nightly-2026-11-25T15:14:31Z")
	if _, err := strict.WithSerializationContext(run).Decode(schedule); err != nil {
		t.Fatalf("schedule run: %v", err)
	}
	if _, err := noRuns.WithSerializationContext(run).Decode(schedule); primitives.CodeOf(err) != primitives.CodeScopeMismatch {
		t.Fatalf("scheduleRuns off: %v", err)
	}
	other := converter.WorkflowSerializationContext{Namespace: "other", WorkflowID: "nightly"}
	if _, err := strict.WithSerializationContext(other).Decode(schedule); primitives.CodeOf(err) != primitives.CodeScopeMismatch {
		t.Fatalf("other namespace: %v", err)
	}
}

func TestSealingRefusesBadWorkflowIDs(t *testing.T) {
	c := newCodec(t, codec.Options{})
	for _, id := range []string{"wf-\xed\xa0\x80", strings.Repeat("w", 1025), "\xff"} {
		out, err := c.WithSerializationContext(wfCtx(id)).Encode([]*commonpb.Payload{jsonPayload("1")})
		if primitives.CodeOf(err) != primitives.CodeMalformedPayload || out != nil {
			t.Errorf("%q: %v %v", id, out, err)
		}
	}
	bom := "\ufeffwf"
	sealed, err := c.WithSerializationContext(wfCtx(bom)).Encode([]*commonpb.Payload{jsonPayload("1")})
	if err != nil || meta(sealed[0], "envelope-workflow-id") != bom {
		t.Fatalf("a leading U+FEFF must survive: %v", err)
	}
	if _, err := c.WithSerializationContext(wfCtx(bom)).Decode(sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WithSerializationContext(wfCtx("wf")).Decode(sealed); primitives.CodeOf(err) != primitives.CodeScopeMismatch {
		t.Fatalf("BOM-less id must not match: %v", err)
	}
}

func TestRequireEncryptionAndForeignPayloads(t *testing.T) {
	open := newCodec(t, codec.Options{})
	strict := newCodec(t, codec.Options{RequireEncryption: true})
	plain := jsonPayload(`"injected"`)
	if out, err := open.Decode([]*commonpb.Payload{plain}); err != nil || out[0] != plain {
		t.Fatal("plaintext passes through unless encryption is required")
	}
	if _, err := strict.WithSerializationContext(wfCtx("w")).Decode([]*commonpb.Payload{plain}); primitives.CodeOf(err) != primitives.CodePlaintextRejected {
		t.Fatalf("requireEncryption: %v", err)
	}
	foreign := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("sample")}, Data: []byte{1}}
	if out, err := open.Decode([]*commonpb.Payload{foreign}); err != nil || out[0] != foreign {
		t.Fatalf("another product's binary/encrypted passes through (docs/wire-format.md): %v", err)
	}
	if _, err := strict.WithSerializationContext(wfCtx("w")).Decode([]*commonpb.Payload{foreign}); primitives.CodeOf(err) != primitives.CodePlaintextRejected {
		t.Fatalf("another product's binary/encrypted under requireEncryption: %v", err)
	}
	if _, err := open.Decode([]*commonpb.Payload{nil}); primitives.CodeOf(err) != primitives.CodeMalformedPayload {
		t.Fatalf("nil payload: %v", err)
	}
}

func TestCompressionThreshold(t *testing.T) {
	c := newCodec(t, codec.Options{Compression: "deflate", CompressionMinBytes: 256})
	small := jsonPayload(`"tiny"`)
	big := jsonPayload(`"` + strings.Repeat("repetitive text compresses well ", 64) + `"`)
	random := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/plain")}, Data: bytes.Repeat([]byte{0}, 0)}
	out, err := c.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{small, big, random})
	if err != nil {
		t.Fatal(err)
	}
	if meta(out[0], "envelope-compression") != "" || meta(out[1], "envelope-compression") != "deflate" || meta(out[2], "envelope-compression") != "" {
		t.Fatal("deflate applies only from the threshold up")
	}
	if len(out[1].Data) >= len(big.Data) {
		t.Fatal("not compressed")
	}
	back, err := c.WithSerializationContext(wfCtx("w")).Decode(out)
	if err != nil || !proto.Equal(back[1], big) {
		t.Fatalf("inflate: %v", err)
	}
	off := newCodec(t, codec.Options{})
	if o, _ := off.Encode([]*commonpb.Payload{big}); meta(o[0], "envelope-compression") != "" {
		t.Fatal("compression must be off by default")
	}
}

func TestInvalidOptionsNameTheField(t *testing.T) {
	ring := newRing(t)
	cases := map[string]codec.Options{
		"keyProviders":        {},
		"algorithm":           {KeyProviders: []keys.KeyProvider{ring}, Algorithm: "ROT13"},
		"compression":         {KeyProviders: []keys.KeyProvider{ring}, Compression: "zstd"},
		"compressionMinBytes": {KeyProviders: []keys.KeyProvider{ring}, CompressionMinBytes: -1},
		"defaultNamespace":    {KeyProviders: []keys.KeyProvider{ring}, DefaultNamespace: "\xff"},
		"maxPayloadsPerKey":   {KeyProviders: []keys.KeyProvider{ring}, Cache: keys.CacheLimits{MaxPayloadsPerKey: 1 << 40}},
	}
	for field, o := range cases {
		_, err := codec.New(o)
		if primitives.CodeOf(err) != primitives.CodeInvalidConfig || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// failingProvider is a KMS that is down: every data key request fails.
type failingProvider struct{ keys.KeyProvider }

func (failingProvider) GenerateDataKey(context.Context, primitives.Scope) (keys.GeneratedDataKey, error) {
	return keys.GeneratedDataKey{}, primitives.Errorf(primitives.CodeKmsUnavailable, "KMS GenerateDataKey with alias/x timed out after 3000 ms")
}

// sdk-go#2000: the SDK's ToPayload once swallowed codec errors and sent the plaintext on. An encode
// failure must surface as an error, and no payload may come back with it.
func TestEncodeFailsClosed(t *testing.T) {
	c := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{failingProvider{newRing(t)}}})
	out, err := c.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{jsonPayload(`"canary-2000"`)})
	if err == nil || out != nil || primitives.CodeOf(err) != primitives.CodeKmsUnavailable || !primitives.IsRetryable(err) {
		t.Fatalf("got %v, %v", out, err)
	}
	dc := codec.NewDataConverter(c)
	if _, err := dc.ToPayload("canary-2000"); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("ToPayload: %v", err)
	}
	if _, err := dc.ToPayloads("canary-2000", 1); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("ToPayloads: %v", err)
	}
	bound := converter.WithDataConverterSerializationContext(dc, wfCtx("w"))
	if _, err := bound.ToPayloads("canary-2000"); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("ToPayloads with context: %v", err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	for _, hierarchy := range []primitives.KeyHierarchy{primitives.HierarchyPerWorkflow, primitives.HierarchyBranch} {
		t.Run(string(hierarchy), func(t *testing.T) {
			c := newCodec(t, codec.Options{KeyHierarchy: hierarchy})
			sealed, _ := c.WithSerializationContext(wfCtx("w")).Encode([]*commonpb.Payload{jsonPayload(`{"a":1}`)})
			for i := range sealed[0].Data {
				p := proto.Clone(sealed[0]).(*commonpb.Payload)
				p.Data[i] ^= 0x80
				if _, err := c.WithSerializationContext(wfCtx("w")).Decode([]*commonpb.Payload{p}); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
					t.Fatalf("byte %d: %v", i, err)
				}
			}
			for k := range sealed[0].Metadata {
				if k == "encoding" || k == "envelope-version" {
					continue
				}
				for _, change := range []func([]byte) []byte{
					func(b []byte) []byte { return append(append([]byte(nil), b...), 'x') },
					func(b []byte) []byte { b = append([]byte(nil), b...); b[len(b)-1] ^= 0x01; return b },
				} {
					p := proto.Clone(sealed[0]).(*commonpb.Payload)
					p.Metadata[k] = change(p.Metadata[k])
					if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
						t.Fatalf("changed %s and it still opened", k)
					}
				}
			}
		})
	}
}
