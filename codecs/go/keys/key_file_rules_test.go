package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// The key-file rules of issue 15, item 10, as test/key-files.test.ts pins them in TypeScript and
// codecs/python/tests/test_key_file_rules.py in Python: canonical base64 key bytes, ISO-8601
// instants, a directory named as one, a byte order mark ignored.

const instantMessage = "expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z"

func keyringWith(t *testing.T, entry map[string]any) []byte {
	t.Helper()
	e := map[string]any{"id": "local-1-0a0b0c0d", "version": 1, "state": "primary", "created": "2026-11-24T10:00:00.000Z", "material": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}
	for k, v := range entry {
		e[k] = v
	}
	text, err := json.Marshal(map[string]any{"format": KeyringFormat, "keys": []any{e}})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func wantKeyringError(t *testing.T, what string, err error, want string) {
	t.Helper()
	if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: expected KEYRING_ERROR containing %q, got %v", what, want, err)
	}
}

func TestKeyMaterialMustBeCanonicalBase64Of32Bytes(t *testing.T) {
	material := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if _, err := ParseKeyring(keyringWith(t, nil), "/k.json"); err != nil {
		t.Fatalf("canonical: %v", err)
	}
	junk := map[string]string{
		"a line break inside":         material[:20] + "\n" + material[20:],
		"a carriage return inside":    material[:20] + "\r\n" + material[20:],
		"spaces inside":               material[:20] + "  " + material[20:],
		"a stray character":           material[:20] + "!" + material[20:],
		"no padding":                  strings.TrimRight(material, "="),
		"the base64url alphabet":      base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		"bits set past the last byte": material[:42] + "d=",
		"text after the padding":      material + "AAAA",
	}
	for why, value := range junk {
		_, err := ParseKeyring(keyringWith(t, map[string]any{"material": value}), "/k.json")
		wantKeyringError(t, why, err, "keyring /k.json: keys[0].material expected canonical base64 of 32 bytes (standard alphabet, = padding, no whitespace or other characters)")
	}
	_, err := ParseKeyring(keyringWith(t, map[string]any{"material": base64.StdEncoding.EncodeToString(make([]byte, 31))}), "/k.json")
	wantKeyringError(t, "31 bytes", err, "keys[0].material expected base64 of 32 bytes, got 31")
}

func TestKeyringTimesMustBeISOInstants(t *testing.T) {
	for _, ok := range []string{"2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00Z", "2024-02-29T23:59:59.123456789+05:30", "2026-11-24T10:00:00-08:00"} {
		if _, err := ParseKeyring(keyringWith(t, map[string]any{"created": ok}), "/k.json"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	bad := []any{"yesterday", "", "2026", "2026-11-24", "2026-11-24 10:00:00Z", "2026-11-24T10:00:00", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:60:00Z", "2026-11-24T10:00:00+25:00", "Tue, 24 Nov 2026 10:00:00 GMT", "2026-11-24t10:00:00z", "+2026-11-24T10:00:00Z", 1764000000000}
	for _, created := range bad {
		_, err := ParseKeyring(keyringWith(t, map[string]any{"created": created}), "/k.json")
		wantKeyringError(t, "created "+strings.TrimSpace(string(mustJSON(t, created))), err, "keys[0].created "+instantMessage)
	}
	_, err := ParseKeyring(keyringWith(t, map[string]any{"state": "primary", "retired": "last week"}), "/k.json")
	wantKeyringError(t, "retired", err, "keys[0].retired "+instantMessage)
}

func TestADirectoryAtTheKeyPathIsCalledOne(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadKeyring(dir, false)
	wantKeyringError(t, "keyring", err, "keyring "+dir+" is a directory, expected a keyring file")
	if strings.Contains(err.Error(), "other users") {
		t.Errorf("reported as a permissions problem: %v", err)
	}
	_, err = ReadKmsKeyConfig(dir)
	wantKeyringError(t, "key config", err, "key config "+dir+" is a directory, expected a key config file")
}

func TestAByteOrderMarkAtTheStartIsIgnored(t *testing.T) {
	bom := "\ufeff"
	text := keyringWith(t, nil)
	doc, err := ParseKeyring(append([]byte(bom), text...), "/k.json")
	if err != nil || doc.Keys[0].ID != "local-1-0a0b0c0d" {
		t.Fatalf("with a BOM: %v", err)
	}
	_, err = ParseKeyring([]byte(bom+`{ "format": `), "/k.json")
	wantKeyringError(t, "broken with a BOM", err, "keyring /k.json is not valid JSON (after the UTF-8 byte order mark at its start, which is ignored)")
	_, err = ParseKeyring([]byte(`{ "format": `), "/k.json")
	if err == nil || !strings.HasSuffix(err.Error(), "is not valid JSON") {
		t.Errorf("broken without a BOM mentions one: %v", err)
	}
	_, err = ParseKeyring(append([]byte(bom+bom), text...), "/k.json")
	wantKeyringError(t, "two marks", err, "is not valid JSON (after the UTF-8 byte order mark")

	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "kms.yaml")
	if err := os.WriteFile(yamlFile, []byte(bom+"format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00Z }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ks, err := ReadKmsKeyConfig(yamlFile); err != nil || ks[0].KeyID != "alias/a" {
		t.Fatalf("YAML with a BOM: %v %v", ks, err)
	}
	jsonFile := filepath.Join(dir, "kms.json")
	if err := os.WriteFile(jsonFile, []byte(bom+`{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/a","state":"primary","added":"2026-01-01T00:00:00Z"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if ks, err := ReadKmsKeyConfig(jsonFile); err != nil || ks[0].KeyID != "alias/a" {
		t.Fatalf("JSON with a BOM: %v %v", ks, err)
	}
}

func TestKmsKeyConfigTimesMustBeInstantsInJSONAndYAML(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	// YAML reads an unquoted date as a timestamp; the rule still sees what the file says.
	_, err := ReadKmsKeyConfig(write("date.yaml", "format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01 }\n"))
	wantKeyringError(t, "YAML date", err, "keys[0].added "+instantMessage)
	_, err = ReadKmsKeyConfig(write("date.json", `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/a","state":"primary","added":"2026-01-01"}]}`))
	wantKeyringError(t, "JSON date", err, "keys[0].added "+instantMessage)
	_, err = ReadKmsKeyConfig(write("demoted.json", `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/a","state":"primary","added":"2026-01-01T00:00:00Z"},{"keyId":"alias/b","state":"decrypt-only","added":"2025-01-01T00:00:00Z","demoted":"2026-13-01T00:00:00Z"}]}`))
	wantKeyringError(t, "demoted", err, "keys[1].demoted "+instantMessage)
	if ks, err := ReadKmsKeyConfig(write("ok.yaml", "format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00.000Z }\n  - { keyId: alias/b, state: decrypt-only, added: \"2025-01-01T00:00:00Z\", demoted: 2026-01-01T00:00:00+01:00 }\n")); err != nil || len(ks) != 2 {
		t.Fatalf("instants in YAML: %v %v", ks, err)
	}
}

func TestAKeyringMadeWorldReadableIsNoticedWithoutAWrite(t *testing.T) {
	file, _ := newKeyringFile(t)
	ring, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	// chmod changes no modification time or size: the stamp must see the mode.
	err = ring.CheckReady(ctx)
	wantKeyringError(t, "after chmod 644", err, "is readable by other users (mode 644)")
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ring.CheckReady(ctx); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
