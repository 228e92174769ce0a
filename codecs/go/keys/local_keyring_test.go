package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

var ctx = context.Background()

func newKeyringFile(t *testing.T) (string, KeyringDocument) {
	t.Helper()
	doc, err := NewKeyringDocument()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "keyring.json")
	if err := WriteKeyring(file, doc); err != nil {
		t.Fatal(err)
	}
	return file, doc
}

func TestKeyringFileIsWrittenMode0600AndReadBack(t *testing.T) {
	file, doc := newKeyringFile(t)
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	back, err := ReadKeyring(file, false)
	if err != nil || back.Keys[0].ID != doc.Keys[0].ID || back.Keys[0].Material != doc.Keys[0].Material {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if !strings.HasPrefix(doc.Keys[0].ID, "local-1-") || len(doc.Keys[0].ID) != len("local-1-")+8 {
		t.Fatalf("id %q", doc.Keys[0].ID)
	}
}

func TestKeyringReadableByOthersIsRefusedNamingTheFile(t *testing.T) {
	file, _ := newKeyringFile(t)
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1})
	if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "mode 644") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("got %v", err)
	}
	if _, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1, AllowInsecurePermissions: true}); err != nil {
		t.Fatalf("allowInsecurePermissions: %v", err)
	}
}

func TestMissingKeyringIsAnErrorUnlessCreateIsOn(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "keyring.json")
	_, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1})
	if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "keys init") {
		t.Fatalf("got %v", err)
	}
	var warned []string
	ring, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1, Create: true, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 || len(warned) != 1 {
		t.Fatalf("mode %v, warnings %v", info.Mode(), warned)
	}
}

func TestKeyringValidation(t *testing.T) {
	cases := map[string]string{
		`[]`:                       "expected a JSON object",
		`{"format":"x","keys":[]}`: `"format" expected`,
		`{"format":"temporal-envelope-keyring/v1","keys":[]}`: `"keys" expected a non-empty array`,
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a b","version":1,"state":"primary","created":"x","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`:                                                      "keys[0].id expected",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1.5,"state":"primary","created":"x","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`:                                                      "keys[0].version expected",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1,"state":"old","created":"x","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`:                                                            "keys[0].state expected",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1,"state":"primary","created":"x","material":"AAAA"}]}`:                                                                                                "keys[0].material expected base64 of 32 bytes",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1,"state":"primary","created":"x"}]}`:                                                                                                                  "keys[0].material is missing",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1,"state":"decrypt-only","created":"x","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`:                                                   "exactly one key",
		`{"format":"temporal-envelope-keyring/v1","keys":[{"id":"a","version":1,"state":"primary","created":"x","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},{"id":"a","version":2,"state":"retired","created":"x"}]}`: "appears twice",
		`{`: "not valid JSON",
	}
	for text, want := range cases {
		_, err := ParseKeyring([]byte(text), "/k.json")
		if primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "/k.json") {
			t.Errorf("%s: expected %q, got %v", text, want, err)
		}
	}
}

func TestLocalKeyringWrapsBoundToScope(t *testing.T) {
	_, doc := newKeyringFile(t)
	ring, err := LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	scope := primitives.Scope{Namespace: "default", WorkflowID: "wf-1"}
	dk, err := ring.GenerateDataKey(ctx, scope)
	if err != nil || len(dk.Plaintext) != 32 || len(dk.Wrapped) != 60 || dk.KeyID != doc.Keys[0].ID {
		t.Fatalf("generate: %v %d %d", err, len(dk.Plaintext), len(dk.Wrapped))
	}
	back, err := ring.DecryptDataKey(ctx, dk.KeyID, dk.Wrapped, scope)
	if err != nil || !bytes.Equal(back, dk.Plaintext) {
		t.Fatalf("unwrap: %v", err)
	}
	for _, other := range []primitives.Scope{{Namespace: "default", WorkflowID: "wf-2"}, {Namespace: "default"}, {Namespace: "other", WorkflowID: "wf-1"}} {
		if _, err := ring.DecryptDataKey(ctx, dk.KeyID, dk.Wrapped, other); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
			t.Errorf("unwrapped for %v: %v", other, err)
		}
	}
	if _, err := ring.DecryptDataKey(ctx, "local-9-deadbeef", dk.Wrapped, scope); primitives.CodeOf(err) != primitives.CodeUnknownKey {
		t.Errorf("unknown key: %v", err)
	}
}

func TestRetiredKeyNoLongerDecrypts(t *testing.T) {
	_, doc := newKeyringFile(t)
	old, _ := LocalKeyringFromDocument(doc, nil)
	scope := primitives.Scope{Namespace: "default", WorkflowID: "wf"}
	dk, _ := old.GenerateDataKey(ctx, scope)
	next, _ := NewKeyEntry(2, time.Now())
	doc.Keys[0].State = KekRetired
	doc.Keys = append(doc.Keys, next)
	ring, err := LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.DecryptDataKey(ctx, dk.KeyID, dk.Wrapped, scope); primitives.CodeOf(err) != primitives.CodeKeyRetired {
		t.Fatalf("got %v", err)
	}
}

// A `keys rotate` rewrites the file; a running keyring picks the new primary up by itself, and a
// broken file afterwards is reported and ignored.
func TestRotationReachesARunningKeyringWithoutRestart(t *testing.T) {
	file, doc := newKeyringFile(t)
	var mu sync.Mutex
	var warnings []string
	ring, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: 20 * time.Millisecond, Warn: func(m string) {
		mu.Lock()
		warnings = append(warnings, m)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	scope := primitives.Scope{Namespace: "default", WorkflowID: "wf"}
	before, _ := ring.GenerateDataKey(ctx, scope)

	next, _ := NewKeyEntry(2, time.Now())
	doc.Keys[0].State = KekDecryptOnly
	doc.Keys = append(doc.Keys, next)
	if err := WriteKeyring(file, doc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ring.PrimaryKeyID() == next.ID })
	if _, err := ring.DecryptDataKey(ctx, before.KeyID, before.Wrapped, scope); err != nil {
		t.Fatalf("the demoted key must still decrypt: %v", err)
	}

	if err := os.WriteFile(file, []byte("{ half a keyring"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(warnings) > 0
	})
	if ring.PrimaryKeyID() != next.ID || !strings.Contains(warnings[0], "keeping the loaded keys") {
		t.Fatalf("primary %s, warnings %v", ring.PrimaryKeyID(), warnings)
	}
}

// A payload wrapped under a KEK that `keys rotate` wrote a moment ago, by a process that read the
// file first, opens at once: the keyring looks at the file for an id it does not hold instead of
// waiting for its watcher (an hour here). A keyring that does not watch its file does not.
func TestAKeyRotatedAMomentAgoOpensBeforeTheWatcherTicks(t *testing.T) {
	file, doc := newKeyringFile(t)
	ring, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	unwatched, err := OpenLocalKeyring(LocalKeyringOptions{Path: file, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer unwatched.Close()

	next, _ := NewKeyEntry(2, time.Now())
	doc.Keys[0].State = KekDecryptOnly
	doc.Keys = append(doc.Keys, next)
	if err := WriteKeyring(file, doc); err != nil {
		t.Fatal(err)
	}
	sealer, err := LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	scope := primitives.Scope{Namespace: "default", WorkflowID: "wf"}
	dek, err := sealer.GenerateDataKey(ctx, scope)
	if err != nil || dek.KeyID != next.ID {
		t.Fatalf("%v %v", dek.KeyID, err)
	}
	if unwatched.Handles(next.ID) {
		t.Fatal("a keyring that does not watch its file must not re-read it")
	}
	set, err := NewProviderSet(ring)
	if err != nil {
		t.Fatal(err)
	}
	got, err := set.DecryptDataKey(ctx, dek.KeyID, dek.Wrapped, scope)
	if err != nil || !bytes.Equal(got, dek.Plaintext) {
		t.Fatalf("a key rotated a moment ago: %v", err)
	}
	if ring.PrimaryKeyID() != next.ID {
		t.Fatalf("the re-read file's primary is %s, want %s", ring.PrimaryKeyID(), next.ID)
	}
	if ring.Handles("local-99-00000000") {
		t.Fatal("an id in no version of the file")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func encodeMaterial(m []byte) string { return base64.StdEncoding.EncodeToString(m) }
