package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"unicode/utf16"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// LegacyKeysFormat is the legacy key file's format tag (keys/legacy-key-file.ts): keys of the
// Temporal samples' encryption codec, imported so that payloads they sealed keep opening while
// workers move to the envelope. Decrypt-only by construction: a file of its own (never the keyring,
// so a legacy key can never become a primary, and teams on AWS KMS migrate the same way), JSON,
// mode 0600 like the keyring.
//
//	{ "format": "temporal-envelope-legacy-keys/v1",
//	  "keys": [ { "id": "<the encryption-key-id the samples wrote>", "kind": "samples-aes-256-gcm",
//	              "state": "decrypt-only", "added": "2026-11-29T10:00:00.000Z",
//	              "material": "<base64, 32 bytes>" } ] }
//
// The TypeScript CLI writes it (`temporal-envelope keys import-legacy`, `keys retire`); Go only reads it.
const LegacyKeysFormat = "temporal-envelope-legacy-keys/v1"

// LegacyKeyState is decrypt-only or retired: a legacy key never seals.
type LegacyKeyState string

const (
	LegacyDecryptOnly LegacyKeyState = "decrypt-only"
	LegacyRetired     LegacyKeyState = "retired"
)

// LegacyKeyEntry is one legacy key in the file.
type LegacyKeyEntry struct {
	ID    string
	Kind  string
	State LegacyKeyState
	Added string
	// Retired is when it was retired, "" if not.
	Retired string
	// Material is base64 of 32 bytes; "" once retired with --destroy.
	Material string
}

// LegacyKeysDocument is the whole file.
type LegacyKeysDocument struct {
	Format string
	Keys   []LegacyKeyEntry
}

// DefaultLegacyKeysPath is ~/.temporal-envelope/legacy-keys.json, the TypeScript tools' default too.
func DefaultLegacyKeysPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".temporal-envelope", "legacy-keys.json")
}

// maxLegacyKeyIDUnits mirrors the TypeScript schema's .max(256), which counts UTF-16 code units.
const maxLegacyKeyIDUnits = 256

// ReadLegacyKeys reads and validates a legacy key file. It refuses, as ReadKeyring does, a file
// other users can read or write (any of mode 0077) unless allowInsecurePermissions.
func ReadLegacyKeys(file string, allowInsecurePermissions bool) (LegacyKeysDocument, error) {
	info, err := os.Stat(file)
	if err != nil {
		return LegacyKeysDocument{}, legacyFileError(file, err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 && !allowInsecurePermissions {
		return LegacyKeysDocument{}, primitives.Errorf(primitives.CodeKeyringError, "legacy key file %s is readable by other users (mode %o); run chmod 600 on it", file, info.Mode().Perm())
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return LegacyKeysDocument{}, primitives.Wrapf(primitives.CodeKeyringError, err, "legacy key file %s cannot be read: %s", file, errnoName(err))
	}
	return ParseLegacyKeys(text, file)
}

// legacyFileError names the file and says what to do about a missing one.
func legacyFileError(file string, err error) error {
	if os.IsNotExist(err) {
		return primitives.Wrapf(primitives.CodeKeyringError, err, "legacy key file %s does not exist; create it with \"temporal-envelope keys import-legacy\"", file)
	}
	return primitives.Wrapf(primitives.CodeKeyringError, err, "legacy key file %s cannot be read: %s", file, errnoName(err))
}

// ParseLegacyKeys validates a legacy key file's JSON; file names it in messages.
func ParseLegacyKeys(text []byte, file string) (LegacyKeysDocument, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return LegacyKeysDocument{}, primitives.Errorf(primitives.CodeKeyringError, "legacy key file %s is not valid JSON", file)
	}
	return ValidateLegacyKeys(doc, file)
}

// ValidateLegacyKeys checks a decoded JSON value against the legacy key file format, with the rules
// of keys/legacy-key-file.ts: unknown fields are kept by the writer and ignored here; an empty key
// list is valid (every key removed). Times are checked to be strings, as ValidateKeyring does.
func ValidateLegacyKeys(doc any, file string) (LegacyKeysDocument, error) {
	fail := func(format string, args ...any) (LegacyKeysDocument, error) {
		return LegacyKeysDocument{}, primitives.Errorf(primitives.CodeKeyringError, "legacy key file %s: %s", file, fmt.Sprintf(format, args...))
	}
	d, ok := doc.(map[string]any)
	if !ok {
		return fail("expected a JSON object")
	}
	if d["format"] != LegacyKeysFormat {
		return fail("%q expected %q", "format", LegacyKeysFormat)
	}
	list, ok := d["keys"].([]any)
	if !ok {
		return fail("%q expected an array", "keys")
	}
	out := LegacyKeysDocument{Format: LegacyKeysFormat, Keys: make([]LegacyKeyEntry, 0, len(list))}
	seen := map[string]bool{}
	for i, k := range list {
		e, ok := k.(map[string]any)
		if !ok {
			return fail("keys[%d] expected an object", i)
		}
		id, ok := e["id"].(string)
		if !ok || id == "" {
			return fail("keys[%d].id expected a non-empty key id", i)
		}
		if n := len(utf16.Encode([]rune(id))); n > maxLegacyKeyIDUnits {
			return fail("keys[%d].id expected at most %d characters", i, maxLegacyKeyIDUnits)
		}
		for _, r := range id {
			if r < 0x20 || r == 0x7f {
				return fail("keys[%d].id expected no control characters", i)
			}
		}
		if seen[id] {
			return fail("keys[%d].id %q appears twice", i, id)
		}
		seen[id] = true
		if kind, _ := e["kind"].(string); kind != primitives.SamplesKeyKind {
			return fail("keys[%d].kind expected %q", i, primitives.SamplesKeyKind)
		}
		state, _ := e["state"].(string)
		if LegacyKeyState(state) != LegacyDecryptOnly && LegacyKeyState(state) != LegacyRetired {
			return fail("keys[%d].state expected decrypt-only or retired", i)
		}
		added, ok := e["added"].(string)
		if !ok {
			return fail("keys[%d].added expected an ISO date string", i)
		}
		entry := LegacyKeyEntry{ID: id, Kind: primitives.SamplesKeyKind, State: LegacyKeyState(state), Added: added}
		if r, present := e["retired"]; present {
			s, ok := r.(string)
			if !ok {
				return fail("keys[%d].retired expected an ISO date string", i)
			}
			entry.Retired = s
		}
		if m, present := e["material"]; present {
			s, ok := m.(string)
			if !ok {
				return fail("keys[%d].material expected base64 of 32 bytes", i)
			}
			b, problem := decodeKeyBytes(s, primitives.KeyBytes)
			valid := problem == ""
			clear(b)
			if !valid {
				return fail("keys[%d].material expected base64 of 32 bytes", i)
			}
			entry.Material = s
		} else if entry.State != LegacyRetired {
			return fail("keys[%d].material is missing but the key is not retired", i)
		}
		out.Keys = append(out.Keys, entry)
	}
	return out, nil
}
