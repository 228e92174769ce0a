package primitives

import (
	"maps"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

func sealedFixture() *commonpb.Payload {
	h := Header{Algorithm: AES256GCM, KeyID: "local-1-abc", Scope: Scope{Namespace: "default", WorkflowID: "wf"}, WrappedDEK: []byte{1, 2, 3}}
	return &commonpb.Payload{Metadata: SealedMetadata(h), Data: []byte{9}}
}

func TestParseHeaderReadsWhatSealedMetadataWrites(t *testing.T) {
	p := sealedFixture()
	h, err := ParseHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.KeyID != "local-1-abc" || h.Scope.WorkflowID != "wf" || h.Algorithm != AES256GCM || h.Compression != "" {
		t.Fatalf("got %v", h)
	}
	if !IsEnvelopePayload(p) {
		t.Fatal("not recognised")
	}
}

func TestParseHeaderRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(m map[string][]byte)
		code Code
	}{
		{"no version", func(m map[string][]byte) { delete(m, MetaVersion) }, CodeMalformedPayload},
		{"future version", func(m map[string][]byte) { m[MetaVersion] = []byte("2") }, CodeUnsupportedFormat},
		{"unknown algorithm", func(m map[string][]byte) { m[MetaAlgorithm] = []byte("ROT13") }, CodeUnsupportedFormat},
		{"no key id", func(m map[string][]byte) { delete(m, MetaKeyID) }, CodeMalformedPayload},
		{"key id not UTF-8", func(m map[string][]byte) { m[MetaKeyID] = []byte{0xff, 0xfe} }, CodeMalformedPayload},
		{"empty namespace", func(m map[string][]byte) { m[MetaNamespace] = []byte{} }, CodeMalformedPayload},
		{"empty workflow id", func(m map[string][]byte) { m[MetaWorkflowID] = nil }, CodeMalformedPayload},
		{"workflow id too long", func(m map[string][]byte) { m[MetaWorkflowID] = make([]byte, 1025) }, CodeMalformedPayload},
		{"lone surrogate workflow id", func(m map[string][]byte) { m[MetaWorkflowID] = []byte("\xed\xa0\x80") }, CodeMalformedPayload},
		{"no wrapped key", func(m map[string][]byte) { delete(m, MetaWrappedDEK) }, CodeMalformedPayload},
		{"wrapped key too long", func(m map[string][]byte) { m[MetaWrappedDEK] = make([]byte, 4097) }, CodeMalformedPayload},
		{"unknown compression", func(m map[string][]byte) { m[MetaCompression] = []byte("zstd") }, CodeUnsupportedFormat},
		// Version is read first: a payload wrong in several ways fails as in TypeScript.
		{"future version and no key id", func(m map[string][]byte) { m[MetaVersion] = []byte("9"); delete(m, MetaKeyID) }, CodeUnsupportedFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := sealedFixture()
			m := maps.Clone(p.Metadata)
			c.edit(m)
			if _, err := ParseHeader(&commonpb.Payload{Metadata: m}); CodeOf(err) != c.code {
				t.Fatalf("expected %s, got %v", c.code, err)
			}
		})
	}
	if _, err := ParseHeader(&commonpb.Payload{}); CodeOf(err) != CodeMalformedPayload {
		t.Fatalf("no metadata: %v", err)
	}
}

func TestAdditionalDataBindsEveryField(t *testing.T) {
	base := Header{Algorithm: AES256GCM, KeyID: "k", Scope: Scope{Namespace: "n", WorkflowID: "w"}, WrappedDEK: []byte{1}}
	variants := []Header{base, base, base, base, base, base}
	variants[1].Algorithm = XChaCha20Poly1305
	variants[2].KeyID = "k2"
	variants[3].Scope.Namespace = "n2"
	variants[4].Scope.WorkflowID = ""
	variants[5].Compression = CompressionDeflate
	seen := map[string]bool{}
	for _, v := range variants[1:] {
		seen[string(AdditionalData(v))] = true
	}
	if seen[string(AdditionalData(base))] || len(seen) != 5 {
		t.Fatal("two headers share additional data")
	}
}

// AdditionalData is written out by hand for speed; it must equal the spec's construction.
func TestAdditionalDataIsTheLengthPrefixedSpec(t *testing.T) {
	for _, h := range []Header{
		{Algorithm: AES256GCM, KeyID: "local-2-7e570002", Scope: Scope{Namespace: "default", WorkflowID: "wf-ü"}, WrappedDEK: []byte{1, 2, 3}},
		{Algorithm: XChaCha20Poly1305, KeyID: "arn:aws:kms:…", Scope: Scope{Namespace: "n"}, WrappedDEK: []byte{9}, Compression: CompressionDeflate},
	} {
		wf := []byte{0}
		if h.Scope.HasWorkflow() {
			wf = append([]byte{1}, h.Scope.WorkflowID...)
		}
		want := LengthPrefixed([]byte("temporal-envelope/v1/payload"), []byte(h.Algorithm), []byte(h.KeyID), []byte(h.Scope.Namespace), wf, h.WrappedDEK, []byte(h.Compression))
		if got := AdditionalData(h); string(got) != string(want) {
			t.Fatalf("%v: got %x want %x", h, got, want)
		}
	}
}
