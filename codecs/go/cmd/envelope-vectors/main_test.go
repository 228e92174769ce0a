package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// generate then verify in one process (local keyring only; the KMS vectors and the other
// languages' tools are exercised by test/cross-language-go.test.ts).
func TestGenerateThenVerify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "go.json")
	var out, errOut bytes.Buffer
	if code := run([]string{"generate", "--out", file}, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v", info.Mode(), err)
	}
	var f vectorFile
	raw, _ := os.ReadFile(file)
	if err := json.Unmarshal(raw, &f); err != nil || f.Format != crossFormat || f.Generator != "go" || len(f.Valid) != 13 || len(f.Invalid) != 16 {
		t.Fatalf("file: %v %+v", err, f)
	}
	if code := run([]string{"verify", file}, &out, &errOut); code != 0 {
		t.Fatalf("verify exited %d: %s %s", code, out.String(), errOut.String())
	}
	var s summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Opened != 13 || s.Rejected != 16 || len(s.Failures) != 0 || s.Verifier != "go" {
		t.Fatalf("summary %s", out.String())
	}

	// A vector that opens when it should not, or to the wrong payload, is a failure and exit 1.
	f.Invalid[0].Sealed = f.Valid[0].Sealed
	f.Valid[1].Input.Data = base64.StdEncoding.EncodeToString([]byte(`"changed"`))
	broken, _ := json.Marshal(f)
	if err := os.WriteFile(file, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"verify", file}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "opened, expected TAMPERED_CIPHERTEXT") || !strings.Contains(out.String(), "opened to a different payload") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown verb exited %d", code)
	}
}

// --hierarchy branch: every valid vector is format v2 (branch key and salt, no wrapped DEK), the
// file says so, the invalid list has version 2's wrapped-key cases, and verify opens it all.
func TestGenerateBranchThenVerify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "go-branch.json")
	var out, errOut bytes.Buffer
	if code := run([]string{"generate", "--out", file, "--hierarchy", "branch"}, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	var f vectorFile
	raw, _ := os.ReadFile(file)
	if err := json.Unmarshal(raw, &f); err != nil || f.Hierarchy != "branch" || len(f.Valid) != 13 || len(f.Invalid) != 21 {
		t.Fatalf("file: %v hierarchy=%q valid=%d invalid=%d", err, f.Hierarchy, len(f.Valid), len(f.Invalid))
	}
	for _, v := range f.Valid {
		m := v.Sealed.Metadata
		if m["envelope-version"] != base64.StdEncoding.EncodeToString([]byte("2")) || m["envelope-branch-key"] == "" || m["envelope-dek-salt"] == "" || m["envelope-dek"] != "" {
			t.Fatalf("%s is not a version-2 payload: %v", v.Name, m)
		}
	}
	if code := run([]string{"verify", file}, &out, &errOut); code != 0 {
		t.Fatalf("verify exited %d: %s %s", code, out.String(), errOut.String())
	}
	var s summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Opened != 13 || s.Rejected != 21 || len(s.Failures) != 0 {
		t.Fatalf("summary %s", out.String())
	}
	if code := run([]string{"generate", "--out", file, "--hierarchy", "tree"}, &out, &errOut); code != 2 {
		t.Fatalf("a bad --hierarchy exited %d", code)
	}
}
