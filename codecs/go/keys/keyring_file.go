package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"syscall"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// KeyringFormat is the local keyring file's format tag (keys/keyring-file.ts).
//
//	{ "format": "temporal-envelope-keyring/v1",
//	  "keys": [ { "id": "local-1-3f9a0c1d", "version": 1, "state": "primary",
//	              "created": "2026-11-24T10:00:00.000Z", "material": "<base64, 32 bytes>" } ] }
//
// The file must be mode 0600; writers replace it atomically (temporary file, then rename), so a
// reader polling it never sees half a keyring.
const KeyringFormat = "temporal-envelope-keyring/v1"

// KeyringEntry is one KEK in the file.
type KeyringEntry struct {
	ID      string   `json:"id"`
	Version int      `json:"version"`
	State   KekState `json:"state"`
	Created string   `json:"created"`
	// Material is base64 of 32 bytes; absent once retired with destruction.
	Material string `json:"material,omitempty"`
	Retired  string `json:"retired,omitempty"`
}

// KeyringDocument is the whole file.
type KeyringDocument struct {
	Format string         `json:"format"`
	Keys   []KeyringEntry `json:"keys"`
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ReadKeyring reads and validates a keyring file. It refuses a file other users can read or write
// (any of mode 0077 set) unless allowInsecurePermissions, naming the file and its mode.
func ReadKeyring(file string, allowInsecurePermissions bool) (KeyringDocument, error) {
	info, err := os.Stat(file)
	if err != nil {
		return KeyringDocument{}, primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be read: %s", file, errnoName(err))
	}
	if info.IsDir() {
		return KeyringDocument{}, primitives.Errorf(primitives.CodeKeyringError, "keyring %s is a directory, expected a keyring file", file)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 && !allowInsecurePermissions {
		return KeyringDocument{}, primitives.Errorf(primitives.CodeKeyringError, "keyring %s is readable by other users (mode %o); run chmod 600 on it", file, info.Mode().Perm())
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return KeyringDocument{}, primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be read: %s", file, errnoName(err))
	}
	return ParseKeyring(text, file)
}

// ParseKeyring validates a keyring document's JSON; file names it in messages. A UTF-8 byte order
// mark at the start is ignored.
func ParseKeyring(text []byte, file string) (KeyringDocument, error) {
	body, hadBOM := withoutBOM(text)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return KeyringDocument{}, primitives.Errorf(primitives.CodeKeyringError, "keyring %s is not valid JSON%s", file, bomNote(hadBOM))
	}
	return ValidateKeyring(doc, file)
}

// ValidateKeyring checks a decoded JSON value (numbers as json.Number or float64) against the
// keyring format, with the same rules and messages as keys/keyring-file.ts.
func ValidateKeyring(doc any, file string) (KeyringDocument, error) {
	fail := func(format string, args ...any) (KeyringDocument, error) {
		return KeyringDocument{}, primitives.Errorf(primitives.CodeKeyringError, "keyring %s: %s", file, fmt.Sprintf(format, args...))
	}
	d, ok := doc.(map[string]any)
	if !ok {
		return fail("expected a JSON object")
	}
	if d["format"] != KeyringFormat {
		return fail("%q expected %q", "format", KeyringFormat)
	}
	list, ok := d["keys"].([]any)
	if !ok || len(list) == 0 {
		return fail("%q expected a non-empty array", "keys")
	}
	out := KeyringDocument{Format: KeyringFormat}
	seen := map[string]bool{}
	primaries := 0
	for i, k := range list {
		e, ok := k.(map[string]any)
		if !ok {
			return fail("keys[%d] expected an object", i)
		}
		id, ok := e["id"].(string)
		if !ok || !keyIDPattern.MatchString(id) {
			return fail("keys[%d].id expected 1-128 of [A-Za-z0-9._:-]", i)
		}
		if seen[id] {
			return fail("keys[%d].id %q appears twice", i, id)
		}
		seen[id] = true
		version, ok := wholeNumber(e["version"])
		if !ok || version < 1 {
			return fail("keys[%d].version expected a whole number >= 1", i)
		}
		state, _ := e["state"].(string)
		switch KekState(state) {
		case KekPrimary:
			primaries++
		case KekDecryptOnly, KekRetired:
		default:
			return fail("keys[%d].state expected primary, decrypt-only or retired", i)
		}
		created, ok := e["created"].(string)
		if !ok || !isISOInstant(created) {
			return fail("keys[%d].created %s", i, instantProblem)
		}
		entry := KeyringEntry{ID: id, Version: version, State: KekState(state), Created: created}
		if m, present := e["material"]; present {
			s, ok := m.(string)
			if !ok {
				return fail("keys[%d].material expected base64 of 32 bytes", i)
			}
			b, problem := decodeKeyBytes(s, primitives.KeyBytes)
			clear(b)
			if problem != "" {
				return fail("keys[%d].material %s", i, problem)
			}
			entry.Material = s
		} else if entry.State != KekRetired {
			return fail("keys[%d].material is missing but the key is %s", i, state)
		}
		if !optionalInstant(e, "retired") {
			return fail("keys[%d].retired %s", i, instantProblem)
		}
		if r, ok := e["retired"].(string); ok {
			entry.Retired = r
		}
		out.Keys = append(out.Keys, entry)
	}
	if primaries != 1 {
		return fail("expected exactly one key with state \"primary\", found %d", primaries)
	}
	return out, nil
}

// WriteKeyring validates doc and replaces file atomically with it, mode 0600 (creating its
// directory, mode 0700). Used to create a keyring on first use; rotation and retirement belong to
// the CLI (`temporal-envelope keys rotate|retire`), which writes the same format.
func WriteKeyring(file string, doc KeyringDocument) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if _, err := ParseKeyring(raw, file); err != nil {
		return err
	}
	text, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s: cannot create its directory: %s", file, errnoName(err))
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.%s.tmp", file, os.Getpid(), hex.EncodeToString(suffix))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be written: %s", file, errnoName(err))
	}
	_, werr := f.Write(append(text, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be written", file)
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return primitives.Wrapf(primitives.CodeKeyringError, err, "keyring %s cannot be replaced: %s", file, errnoName(err))
	}
	return nil
}

// NewKeyringDocument is a keyring with one fresh primary KEK, as `temporal-envelope keys init`
// makes it.
func NewKeyringDocument() (KeyringDocument, error) {
	e, err := NewKeyEntry(1, time.Now())
	if err != nil {
		return KeyringDocument{}, err
	}
	return KeyringDocument{Format: KeyringFormat, Keys: []KeyringEntry{e}}, nil
}

// NewKeyEntry is a fresh primary KEK of the given version: id local-<version>-<8 hex>.
func NewKeyEntry(version int, now time.Time) (KeyringEntry, error) {
	buf := make([]byte, 4+primitives.KeyBytes)
	if _, err := rand.Read(buf); err != nil {
		return KeyringEntry{}, err
	}
	defer clear(buf)
	return KeyringEntry{
		ID:       fmt.Sprintf("local-%d-%s", version, hex.EncodeToString(buf[:4])),
		Version:  version,
		State:    KekPrimary,
		Created:  now.UTC().Format("2006-01-02T15:04:05.000Z"),
		Material: base64.StdEncoding.EncodeToString(buf[4:]),
	}, nil
}

func wholeNumber(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil || i > 1<<31 {
			return 0, false
		}
		return int(i), true
	case float64:
		if n != float64(int(n)) || n > 1<<31 {
			return 0, false
		}
		return int(n), true
	}
	return 0, false
}

// errnoName gives the POSIX name of a file error ("ENOENT"), as the TypeScript messages do.
func errnoName(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "ENOENT"
	case errors.Is(err, fs.ErrPermission):
		return "EACCES"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return "error"
}
