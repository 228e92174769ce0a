package codec_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// Migrating from Temporal's samples encryption codec: payloads it sealed open under an imported
// legacy key, everything new is sealed in the envelope (test/legacy-samples.test.ts for TypeScript).

const (
	samplesKeyID   = "test-key-id"
	samplesKeyText = "test-key-test-key-test-key-test!" // the samples' hard-coded 32-character key
)

// samplesEncode seals a payload the way samples-go encryption does, written from (not copied out
// of) encryption/crypt.go and data_converter.go: AES-GCM with a random 12-byte nonce,
// gcm.Seal(nonce, nonce, marshalled Payload, nil), metadata encoding and encryption-key-id.
func samplesEncode(t *testing.T, keyID string, key []byte, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	plain, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		t.Fatal(err)
	}
	return &commonpb.Payload{
		Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte(keyID)},
		Data:     gcm.Seal(nonce, nonce, plain, nil),
	}
}

func legacyDoc(id string, state keys.LegacyKeyState, material []byte) keys.LegacyKeysDocument {
	e := keys.LegacyKeyEntry{ID: id, Kind: primitives.SamplesKeyKind, State: state, Added: "2026-11-01T00:00:00.000Z"}
	if material != nil {
		e.Material = base64.StdEncoding.EncodeToString(material)
	}
	return keys.LegacyKeysDocument{Format: keys.LegacyKeysFormat, Keys: []keys.LegacyKeyEntry{e}}
}

func legacyRing(t *testing.T, doc keys.LegacyKeysDocument) *keys.LegacyKeyring {
	t.Helper()
	ring, err := keys.LegacyKeyringFromDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func legacyCodec(t *testing.T, doc keys.LegacyKeysDocument, requireEncryption bool) *codec.Codec {
	t.Helper()
	return newCodec(t, codec.Options{LegacyKeys: legacyRing(t, doc), RequireEncryption: requireEncryption})
}

// test/vectors/samples-v1.json: payloads in the samples' format sealed by another implementation
// (node's WebCrypto, as the TypeScript sample seals; test/vectors/generate-samples.ts), which
// test/legacy-samples.test.ts checks too.
type samplesVectorFile struct {
	LegacyKeys json.RawMessage `json:"legacyKeys"`
	Valid      []struct {
		Name   string          `json:"name"`
		Input  json.RawMessage `json:"input"`
		Sealed json.RawMessage `json:"sealed"`
	} `json:"valid"`
	Invalid []struct {
		Name   string          `json:"name"`
		Code   string          `json:"code"`
		Sealed json.RawMessage `json:"sealed"`
	} `json:"invalid"`
}

func TestLegacySamplesKnownAnswerVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "test", "vectors", "samples-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f samplesVectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Valid) < 2 || len(f.Invalid) < 8 {
		t.Fatalf("%d valid, %d invalid vectors", len(f.Valid), len(f.Invalid))
	}
	doc, err := keys.ParseLegacyKeys(f.LegacyKeys, "samples-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec(t, codec.Options{LegacyKeys: legacyRing(t, doc), RequireEncryption: true})
	for _, v := range f.Valid {
		t.Run("opens/"+v.Name, func(t *testing.T) {
			sealed, input := payloadFromJSON(t, v.Sealed), payloadFromJSON(t, v.Input)
			opened, err := c.WithSerializationContext(wfCtx("any-workflow")).Decode([]*commonpb.Payload{sealed})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(opened[0], input) {
				t.Fatalf("opened %v, want %v", opened[0], input)
			}
			// samples-go's layout is the same: nonce(12) ‖ ciphertext ‖ tag(16) of the marshalled Payload.
			plain, _ := proto.Marshal(input)
			if len(sealed.GetData()) != 12+len(plain)+16 {
				t.Fatalf("data %d bytes, want 12 + %d + 16", len(sealed.GetData()), len(plain))
			}
		})
	}
	for _, v := range f.Invalid {
		t.Run("fails/"+v.Name, func(t *testing.T) {
			out, err := c.WithSerializationContext(wfCtx("any-workflow")).Decode([]*commonpb.Payload{payloadFromJSON(t, v.Sealed)})
			if string(primitives.CodeOf(err)) != v.Code || out != nil {
				t.Fatalf("got %v, want %s", err, v.Code)
			}
		})
	}
}

func TestLegacySamplesOpenInAnyContextAndNewPayloadsAreEnvelopes(t *testing.T) {
	c := legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, []byte(samplesKeyText)), true)
	in := []*commonpb.Payload{jsonPayload(`{"token":"dlg_tok_legacy"}`), jsonPayload(`"second"`)}
	sampled := []*commonpb.Payload{samplesEncode(t, samplesKeyID, []byte(samplesKeyText), in[0]), samplesEncode(t, samplesKeyID, []byte(samplesKeyText), in[1])}
	if id, ok := primitives.SamplesKeyIDOf(sampled[0]); !ok || id != samplesKeyID {
		t.Fatalf("SamplesKeyIDOf = %q, %v", id, ok)
	}
	for _, decode := range []func([]*commonpb.Payload) ([]*commonpb.Payload, error){
		c.Decode, c.WithSerializationContext(wfCtx("any-workflow")).Decode, c.WithSerializationContext(wfCtx("another")).Decode,
	} {
		out, err := decode(sampled)
		if err != nil {
			t.Fatal(err)
		}
		for i := range in {
			if !proto.Equal(out[i], in[i]) {
				t.Fatalf("payload %d opened as %v", i, out[i])
			}
		}
	}
	fresh, err := c.WithSerializationContext(wfCtx("any-workflow")).Encode([]*commonpb.Payload{jsonPayload(`"new"`)})
	if err != nil {
		t.Fatal(err)
	}
	if meta(fresh[0], "envelope-version") != "1" {
		t.Fatalf("new payloads must be sealed in the envelope: %v", fresh[0].GetMetadata())
	}
	if _, ok := primitives.SamplesKeyIDOf(fresh[0]); ok {
		t.Fatal("an envelope payload is not a samples payload")
	}
	mixed, err := c.WithSerializationContext(wfCtx("any-workflow")).Decode([]*commonpb.Payload{sampled[0], fresh[0]})
	if err != nil || !proto.Equal(mixed[0], in[0]) || string(mixed[1].GetData()) != `"new"` {
		t.Fatalf("mixed batch: %v %v", mixed, err)
	}
}

// A samples payload under a key id that is not configured is another product's payload, not ours:
// passed through, or refused as PLAINTEXT_REJECTED under requireEncryption, as in TypeScript and Python.
func TestLegacySamplesUnderAnUnknownKeyIDAreNotOurs(t *testing.T) {
	foreign := samplesEncode(t, "someone-elses-key", []byte(samplesKeyText), jsonPayload(`"x"`))
	lenient := legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, []byte(samplesKeyText)), false)
	if out, err := lenient.Decode([]*commonpb.Payload{foreign}); err != nil || out[0] != foreign {
		t.Fatalf("requireEncryption=false: %v", err)
	}
	strict := legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, []byte(samplesKeyText)), true)
	if _, err := strict.Decode([]*commonpb.Payload{foreign}); primitives.CodeOf(err) != primitives.CodePlaintextRejected || !strings.Contains(err.Error(), "not a configured legacy key") {
		t.Fatalf("requireEncryption=true: %v", err)
	}
	sampled := samplesEncode(t, samplesKeyID, []byte(samplesKeyText), jsonPayload(`"x"`))
	if out, err := newCodec(t, codec.Options{}).Decode([]*commonpb.Payload{sampled}); err != nil || out[0] != sampled {
		t.Fatalf("without legacy keys: %v", err)
	}
	// An envelope-version makes it ours, never legacy, whatever its key id says.
	ours := proto.Clone(sampled).(*commonpb.Payload)
	ours.Metadata["envelope-version"] = []byte("1")
	if _, err := legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, []byte(samplesKeyText)), false).Decode([]*commonpb.Payload{ours}); primitives.CodeOf(err) != primitives.CodeMalformedPayload {
		t.Fatalf("envelope-version present: %v", err)
	}
}

func TestLegacySamplesFailures(t *testing.T) {
	key := []byte(samplesKeyText)
	sampled := samplesEncode(t, samplesKeyID, key, jsonPayload(`{"token":"dlg_tok_legacy"}`))
	c := legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, key), false)
	altered := proto.Clone(sampled).(*commonpb.Payload)
	altered.Data[20] ^= 1
	noData := &commonpb.Payload{Metadata: sampled.GetMetadata()}
	short := &commonpb.Payload{Metadata: sampled.GetMetadata(), Data: sampled.GetData()[:27]}
	// A box that authenticates but does not hold a Payload: sealed the samples' way over junk bytes.
	junk := samplesEncode(t, samplesKeyID, key, &commonpb.Payload{})
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	junk.Data = gcm.Seal(append([]byte(nil), junk.Data[:12]...), junk.Data[:12], []byte{0xff, 0xff, 0xff}, nil)
	cases := []struct {
		name  string
		codec *codec.Codec
		p     *commonpb.Payload
		want  primitives.Code
	}{
		{"altered data", c, altered, primitives.CodeTamperedCiphertext},
		{"truncated data", c, short, primitives.CodeTamperedCiphertext},
		{"wrong key", legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyDecryptOnly, bytes.Repeat([]byte{7}, 32)), false), sampled, primitives.CodeTamperedCiphertext},
		{"retired key", legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyRetired, key), false), sampled, primitives.CodeKeyRetired},
		{"retired and destroyed key", legacyCodec(t, legacyDoc(samplesKeyID, keys.LegacyRetired, nil), false), sampled, primitives.CodeKeyRetired},
		{"no data", c, noData, primitives.CodeMalformedPayload},
		{"not a Payload inside", c, junk, primitives.CodeMalformedPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.codec.WithSerializationContext(wfCtx("w")).Decode([]*commonpb.Payload{tc.p})
			if primitives.CodeOf(err) != tc.want || out != nil {
				t.Fatalf("got %v (payloads %v), want %s", err, out, tc.want)
			}
			if strings.Contains(err.Error(), samplesKeyText) || strings.Contains(err.Error(), "dlg_tok_legacy") {
				t.Fatalf("error leaks key or plaintext: %v", err)
			}
		})
	}
}

func TestLegacySamplesKeyIDMatchesByteForByte(t *testing.T) {
	bom := "\uFEFFkey"
	p := samplesEncode(t, bom, []byte(samplesKeyText), jsonPayload(`"bom"`))
	out, err := legacyCodec(t, legacyDoc(bom, keys.LegacyDecryptOnly, []byte(samplesKeyText)), true).Decode([]*commonpb.Payload{p})
	if err != nil || string(out[0].GetData()) != `"bom"` {
		t.Fatalf("BOM id: %v %v", out, err)
	}
	if _, err := legacyCodec(t, legacyDoc("key", keys.LegacyDecryptOnly, []byte(samplesKeyText)), true).Decode([]*commonpb.Payload{p}); primitives.CodeOf(err) != primitives.CodePlaintextRejected {
		t.Fatalf("BOM-less id must not match: %v", err)
	}
	// An id that is not UTF-8 is never a samples key id.
	bad := samplesEncode(t, "\xff", []byte(samplesKeyText), jsonPayload(`"x"`))
	if _, ok := primitives.SamplesKeyIDOf(bad); ok {
		t.Fatal("invalid UTF-8 key id accepted")
	}
}
