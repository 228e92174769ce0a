package primitives

import (
	"bytes"
	"maps"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

func sealedV2Fixture() *commonpb.Payload {
	salt := bytes.Repeat([]byte{7}, DEKSaltBytes)
	h := HeaderFor("local-2-abc", PackBranchWrapped([]byte{1, 2, 3}, salt), Scope{Namespace: "default", WorkflowID: "wf"}, AES256GCM, "")
	return &commonpb.Payload{Metadata: SealedMetadata(h), Data: []byte{9}}
}

func TestVersion2HeaderRoundTrip(t *testing.T) {
	p := sealedV2Fixture()
	if _, ok := p.Metadata[MetaWrappedDEK]; ok || string(p.Metadata[MetaVersion]) != "2" {
		t.Fatalf("metadata %v", p.Metadata)
	}
	h, err := ParseHeader(p)
	if err != nil || !h.IsV2() || h.KeyID != "local-2-abc" || !bytes.Equal(h.WrappedBranchKey, []byte{1, 2, 3}) || len(h.DEKSalt) != 32 {
		t.Fatalf("got %v %v", h, err)
	}
	bk, salt, ok := UnpackBranchWrapped(h.WrappedKey())
	if !ok || !bytes.Equal(bk, h.WrappedBranchKey) || !bytes.Equal(salt, h.DEKSalt) {
		t.Fatal("WrappedKey does not carry the branch key and salt")
	}
	if scope, keyID, ok := PeekScope(p); !ok || keyID != "local-2-abc" || scope.WorkflowID != "wf" {
		t.Fatal("PeekScope does not read version 2")
	}
	// A version-1 wrapped key (no pair label) seals version 1.
	if h1 := HeaderFor("k", []byte{1, 2, 3}, Scope{Namespace: "n"}, AES256GCM, ""); h1.IsV2() || !bytes.Equal(h1.WrappedDEK, []byte{1, 2, 3}) {
		t.Fatalf("v1 key sealed as %v", h1)
	}
}

// The order of docs/wire-format.md's version-2 decoding rules: the first fault decides the code.
func TestVersion2ParseOrder(t *testing.T) {
	cases := []struct {
		name string
		edit func(m map[string][]byte)
		code Code
	}{
		{"carries an envelope-dek", func(m map[string][]byte) { m[MetaWrappedDEK] = []byte{1} }, CodeUnsupportedFormat},
		{"envelope-dek and an unknown algorithm", func(m map[string][]byte) { m[MetaWrappedDEK] = []byte{1}; m[MetaAlgorithm] = []byte("ROT13") }, CodeUnsupportedFormat},
		{"unknown algorithm and no branch key", func(m map[string][]byte) { m[MetaAlgorithm] = []byte("ROT13"); delete(m, MetaBranchKey) }, CodeUnsupportedFormat},
		{"no key id and no salt", func(m map[string][]byte) { delete(m, MetaKeyID); delete(m, MetaDEKSalt) }, CodeMalformedPayload},
		{"no branch key", func(m map[string][]byte) { delete(m, MetaBranchKey) }, CodeMalformedPayload},
		{"empty branch key", func(m map[string][]byte) { m[MetaBranchKey] = []byte{} }, CodeMalformedPayload},
		{"branch key over 4096 bytes", func(m map[string][]byte) { m[MetaBranchKey] = make([]byte, 4097) }, CodeMalformedPayload},
		{"no salt", func(m map[string][]byte) { delete(m, MetaDEKSalt) }, CodeMalformedPayload},
		{"salt of 31 bytes", func(m map[string][]byte) { m[MetaDEKSalt] = make([]byte, 31) }, CodeMalformedPayload},
		{"salt of 33 bytes", func(m map[string][]byte) { m[MetaDEKSalt] = make([]byte, 33) }, CodeMalformedPayload},
		{"salt of 16 bytes and unknown compression", func(m map[string][]byte) { m[MetaDEKSalt] = make([]byte, 16); m[MetaCompression] = []byte("zstd") }, CodeMalformedPayload},
		{"unknown compression", func(m map[string][]byte) { m[MetaCompression] = []byte("zstd") }, CodeUnsupportedFormat},
		{"relabelled 1 (then no envelope-dek)", func(m map[string][]byte) { m[MetaVersion] = []byte("1") }, CodeMalformedPayload},
		{"relabelled 9", func(m map[string][]byte) { m[MetaVersion] = []byte("9") }, CodeUnsupportedFormat},
		// The in-process form of a branch-derived key never comes from a version-1 header.
		{"relabelled 1 with the packed pair as envelope-dek", func(m map[string][]byte) {
			m[MetaVersion] = []byte("1")
			m[MetaWrappedDEK] = PackBranchWrapped(m[MetaBranchKey], m[MetaDEKSalt])
		}, CodeMalformedPayload},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := maps.Clone(sealedV2Fixture().Metadata)
			c.edit(m)
			if _, err := ParseHeader(&commonpb.Payload{Metadata: m}); CodeOf(err) != c.code {
				t.Fatalf("expected %s, got %v", c.code, err)
			}
		})
	}
}

func TestVersion2AdditionalDataLayout(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, DEKSaltBytes)
	for _, h := range []Header{
		{Version: FormatVersion2, Algorithm: AES256GCM, KeyID: "local-2-7e570002", Scope: Scope{Namespace: "default", WorkflowID: "wf-ü"}, WrappedBranchKey: []byte{1, 2, 3}, DEKSalt: salt},
		{Version: FormatVersion2, Algorithm: XChaCha20Poly1305, KeyID: "arn:aws:kms:…", Scope: Scope{Namespace: "n"}, WrappedBranchKey: []byte{9}, DEKSalt: salt, Compression: CompressionDeflate},
	} {
		want := LengthPrefixed([]byte("temporal-envelope/v2/payload"), []byte(h.Algorithm), []byte(h.KeyID), []byte(h.Scope.Namespace), workflowField(h.Scope), h.WrappedBranchKey, h.DEKSalt, []byte(h.Compression))
		if got := AdditionalData(h); !bytes.Equal(got, want) {
			t.Fatalf("additional data for %v:\n got %x\nwant %x", h, got, want)
		}
	}
}

func TestBranchWrappedPacking(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, DEKSaltBytes)
	packed := PackBranchWrapped([]byte("wrapped"), salt)
	if bk, s, ok := UnpackBranchWrapped(packed); !ok || string(bk) != "wrapped" || !bytes.Equal(s, salt) {
		t.Fatal("round trip")
	}
	for name, w := range map[string][]byte{
		"a local v1 wrap":  make([]byte, 60),
		"empty":            {},
		"short salt":       PackBranchWrapped([]byte("wrapped"), salt[:31]),
		"empty branch key": PackBranchWrapped(nil, salt),
		"another label":    LengthPrefixed([]byte("temporal-envelope/v2/other"), []byte("w"), salt),
		"a fourth field":   append(PackBranchWrapped([]byte("w"), salt), 0, 0, 0, 0),
		"truncated":        packed[:len(packed)-1],
		"length past end":  {0, 0, 0, 200, 1},
	} {
		if _, _, ok := UnpackBranchWrapped(w); ok {
			t.Errorf("%s unpacked", name)
		}
	}
}

func TestDeriveBranchDataKeyChecksItsInputs(t *testing.T) {
	bk, salt := make([]byte, 32), make([]byte, 32)
	a, err := DeriveBranchDataKey(bk, salt, Scope{Namespace: "n", WorkflowID: "w"})
	if err != nil || len(a) != 32 {
		t.Fatal(err)
	}
	b, _ := DeriveBranchDataKey(bk, salt, Scope{Namespace: "n"})
	if bytes.Equal(a, b) {
		t.Fatal("workflow and namespace scope derive the same key")
	}
	if _, err := DeriveBranchDataKey(bk[:31], salt, Scope{Namespace: "n"}); err == nil {
		t.Fatal("short branch key")
	}
	if _, err := DeriveBranchDataKey(bk, salt[:16], Scope{Namespace: "n"}); err == nil {
		t.Fatal("short salt")
	}
	if h, err := ParseKeyHierarchy(""); err != nil || h != HierarchyPerWorkflow {
		t.Fatal("default hierarchy")
	}
	if _, err := ParseKeyHierarchy("tree"); CodeOf(err) != CodeInvalidConfig {
		t.Fatal("unknown hierarchy")
	}
}
