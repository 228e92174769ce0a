package keys

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

var legacyMaterial = []byte("test-key-test-key-test-key-test!")

func legacyEntry(id, state string) map[string]any {
	e := map[string]any{"id": id, "kind": "samples-aes-256-gcm", "state": state, "added": "2026-11-01T00:00:00.000Z", "material": encodeMaterial(legacyMaterial)}
	if state == "retired" {
		e["retired"] = "2026-11-20T00:00:00.000Z"
	}
	return e
}

// writeLegacyFile replaces file atomically, mode 0600, as the TypeScript writer does.
func writeLegacyFile(t *testing.T, file string, entries ...map[string]any) {
	t.Helper()
	if entries == nil {
		entries = []map[string]any{}
	}
	text, err := json.MarshalIndent(map[string]any{"format": LegacyKeysFormat, "keys": entries}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

func samplesBox(t *testing.T, plaintext []byte) []byte {
	t.Helper()
	box, err := primitives.Seal(primitives.AES256GCM, legacyMaterial, plaintext, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestLegacyKeyFileValidation(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{"format": LegacyKeysFormat, "keys": []any{legacyEntry("k", "decrypt-only")}}
	}
	with := func(change func(doc map[string]any, key map[string]any)) any {
		doc := valid()
		change(doc, doc["keys"].([]any)[0].(map[string]any))
		return doc
	}
	if doc, err := ValidateLegacyKeys(valid(), "f"); err != nil || doc.Keys[0].ID != "k" || doc.Keys[0].State != LegacyDecryptOnly {
		t.Fatalf("valid: %+v %v", doc, err)
	}
	if doc, err := ValidateLegacyKeys(map[string]any{"format": LegacyKeysFormat, "keys": []any{}}, "f"); err != nil || len(doc.Keys) != 0 {
		t.Fatalf("an empty key list is valid (every key removed): %v", err)
	}
	unknownFields := with(func(d, k map[string]any) { d["note"] = "x"; k["comment"] = "kept by writers" })
	if _, err := ValidateLegacyKeys(unknownFields, "f"); err != nil {
		t.Fatalf("unknown fields are ignored, as the loose TypeScript schema does: %v", err)
	}
	cases := []struct {
		name string
		doc  any
		msg  string
	}{
		{"not an object", []any{}, "expected a JSON object"},
		{"the keyring's format", with(func(d, _ map[string]any) { d["format"] = KeyringFormat }), `"format" expected`},
		{"no keys array", with(func(d, _ map[string]any) { delete(d, "keys") }), `"keys" expected an array`},
		{"empty id", with(func(_, k map[string]any) { k["id"] = "" }), "keys[0].id expected a non-empty key id"},
		{"id too long", with(func(_, k map[string]any) { k["id"] = strings.Repeat("é", 257) }), "at most 256 characters"},
		{"control character in id", with(func(_, k map[string]any) { k["id"] = "a\nb" }), "no control characters"},
		{"DEL in id", with(func(_, k map[string]any) { k["id"] = "a\x7fb" }), "no control characters"},
		{"other kind", with(func(_, k map[string]any) { k["kind"] = "aes-256-cbc" }), `keys[0].kind expected "samples-aes-256-gcm"`},
		{"primary state", with(func(_, k map[string]any) { k["state"] = "primary" }), "keys[0].state expected decrypt-only or retired"},
		{"no added", with(func(_, k map[string]any) { delete(k, "added") }), "keys[0].added expected"},
		{"retired not a string", with(func(_, k map[string]any) { k["retired"] = 5 }), "keys[0].retired expected"},
		{"short material", with(func(_, k map[string]any) { k["material"] = encodeMaterial(legacyMaterial[:31]) }), "keys[0].material expected base64 of 32 bytes"},
		{"material not a string", with(func(_, k map[string]any) { k["material"] = 1 }), "keys[0].material expected base64 of 32 bytes"},
		{"no material but decrypt-only", with(func(_, k map[string]any) { delete(k, "material") }), "material is missing but the key is not retired"},
		{"duplicate id", with(func(d, _ map[string]any) {
			d["keys"] = []any{legacyEntry("k", "decrypt-only"), legacyEntry("k", "retired")}
		}), `keys[1].id "k" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateLegacyKeys(tc.doc, "/x/legacy.json")
			if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "legacy key file /x/legacy.json") {
				t.Fatalf("got %v, want KEYRING_ERROR with %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), encodeMaterial(legacyMaterial)) {
				t.Fatal("message carries key material")
			}
		})
	}
	// 256 characters counted as UTF-16 units, as JavaScript does: one astral character is two.
	if _, err := ValidateLegacyKeys(with(func(_, k map[string]any) { k["id"] = strings.Repeat("😀", 128) }), "f"); err != nil {
		t.Fatalf("256 UTF-16 units: %v", err)
	}
	if _, err := ValidateLegacyKeys(with(func(_, k map[string]any) { k["id"] = strings.Repeat("😀", 128) + "a" }), "f"); err == nil {
		t.Fatal("257 UTF-16 units accepted")
	}
	// A retired, destroyed key (no material) is valid.
	if doc, err := ValidateLegacyKeys(with(func(_, k map[string]any) { k["state"] = "retired"; delete(k, "material") }), "f"); err != nil || doc.Keys[0].Material != "" {
		t.Fatalf("retired and destroyed: %v", err)
	}
	if _, err := ParseLegacyKeys([]byte("{ half"), "f"); primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("broken JSON: %v", err)
	}
}

func TestLegacyKeyFileReadableByOthersOrMissingIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "legacy-keys.json")
	_, err := OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: -1})
	if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "import-legacy") {
		t.Fatalf("missing file: %v", err)
	}
	writeLegacyFile(t, file, legacyEntry("k", "decrypt-only"))
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: -1})
	if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "readable by other users (mode 644)") || !strings.Contains(err.Error(), file) {
		t.Fatalf("mode 0644: %v", err)
	}
	ring, err := OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: -1, AllowInsecurePermissions: true})
	if err != nil {
		t.Fatalf("AllowInsecurePermissions: %v", err)
	}
	ring.Close()
}

func TestLegacyKeyringDecryptsAndRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "legacy-keys.json")
	gone := legacyEntry("gone", "retired")
	delete(gone, "material")
	writeLegacyFile(t, file, legacyEntry("k", "decrypt-only"), legacyEntry("old", "retired"), gone)
	ring, err := OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	box := samplesBox(t, []byte("payload bytes"))
	if got, err := ring.Decrypt("k", box); err != nil || string(got) != "payload bytes" {
		t.Fatalf("decrypt: %q %v", got, err)
	}
	for id, want := range map[string]primitives.Code{"old": primitives.CodeKeyRetired, "gone": primitives.CodeKeyRetired, "nope": primitives.CodeUnknownKey} {
		if _, err := ring.Decrypt(id, box); primitives.CodeOf(err) != want {
			t.Fatalf("%s: %v, want %s", id, err, want)
		}
	}
	if _, err := ring.Decrypt("gone", box); !strings.Contains(err.Error(), "retired and destroyed") {
		t.Fatalf("destroyed: %v", err)
	}
	box[len(box)-1] ^= 1
	if _, err := ring.Decrypt("k", box); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
		t.Fatalf("tampered: %v", err)
	}
	if !ring.Knows("old") || !ring.Knows("gone") || ring.Knows("nope") {
		t.Fatal("Knows: retired keys are known (their payloads are ours to answer for), others not")
	}
	infos := map[string]LegacyKeyInfo{}
	for _, i := range ring.List() {
		infos[i.ID] = i
	}
	if len(infos) != 3 || !infos["gone"].Destroyed || infos["k"].Destroyed || infos["old"].State != LegacyRetired || infos["old"].Retired == "" {
		t.Fatalf("List: %+v", infos)
	}
}

// `keys retire` rewrites the file; a running legacy keyring stops decrypting by itself, and a
// broken file afterwards is reported and ignored. A key imported a moment ago is found at once.
func TestLegacyKeyFileChangesReachARunningKeyring(t *testing.T) {
	file := filepath.Join(t.TempDir(), "legacy-keys.json")
	writeLegacyFile(t, file, legacyEntry("k", "decrypt-only"))
	var mu sync.Mutex
	var warnings []string
	ring, err := OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: 20 * time.Millisecond, Warn: func(m string) {
		mu.Lock()
		warnings = append(warnings, m)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	box := samplesBox(t, []byte("x"))
	if _, err := ring.Decrypt("k", box); err != nil {
		t.Fatal(err)
	}
	writeLegacyFile(t, file, legacyEntry("k", "retired"))
	waitFor(t, func() bool {
		_, err := ring.Decrypt("k", box)
		return primitives.CodeOf(err) == primitives.CodeKeyRetired
	})
	if err := os.WriteFile(file, []byte("{ half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(warnings) > 0
	})
	if !ring.Knows("k") || !strings.Contains(warnings[0], "legacy key file reload failed, keeping the loaded keys") {
		t.Fatalf("warnings %v", warnings)
	}

	slow, err := func() (*LegacyKeyring, error) {
		writeLegacyFile(t, file, legacyEntry("k", "decrypt-only"))
		return OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: time.Hour})
	}()
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	unwatched, err := OpenLegacyKeyring(LegacyKeyringOptions{Path: file, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer unwatched.Close()
	writeLegacyFile(t, file, legacyEntry("k", "decrypt-only"), legacyEntry("new-key", "decrypt-only"))
	if unwatched.Knows("new-key") {
		t.Fatal("a legacy keyring that does not watch its file must not re-read it")
	}
	if !slow.Knows("new-key") {
		t.Fatal("a key imported a moment ago must be found before the watcher ticks")
	}
	if _, err := slow.Decrypt("new-key", box); err != nil {
		t.Fatal(err)
	}
}
