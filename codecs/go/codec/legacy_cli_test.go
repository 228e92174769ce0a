package codec_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// runTSCli runs the TypeScript CLI (src/cli/main.ts through the repository's tsx), the tool that
// writes legacy key files; the Go codec only reads them.
func runTSCli(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	root := testenv.RepoRoot()
	tsx := filepath.Join(root, "node_modules", ".bin", "tsx")
	if _, err := os.Stat(tsx); err != nil {
		t.Fatalf("%s is missing: run npm ci in %s (the TypeScript CLI writes the legacy key file this test reads)", tsx, root)
	}
	cmd := exec.Command(tsx, append([]string{filepath.Join("src", "cli", "main.ts")}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("temporal-envelope %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String() + stderr.String()
}

// The file `temporal-envelope keys import-legacy` writes is the file the Go codec reads, and a
// `keys retire --destroy` of it reaches a running Go worker.
func TestLegacyKeyFileWrittenByTheTypeScriptCLI(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "legacy-keys.json")
	keyring := filepath.Join(dir, "keyring.json")
	out := runTSCli(t, []string{"K=" + samplesKeyText}, "", "keys", "import-legacy", "--id", samplesKeyID, "--material-env", "K", "--legacy-keys", file, "--keyring", keyring)
	if strings.Contains(out, samplesKeyText) {
		t.Fatal("the CLI echoed the key")
	}
	other := bytes.Repeat([]byte{0x5a}, 32)
	runTSCli(t, nil, base64.StdEncoding.EncodeToString(other), "keys", "import-legacy", "--id", "\uFEFFsecond key", "--material-stdin", "--material-encoding", "base64", "--legacy-keys", file, "--keyring", keyring)

	ring, err := keys.OpenLegacyKeyring(keys.LegacyKeyringOptions{Path: file, WatchInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	c := newCodec(t, codec.Options{LegacyKeys: ring, RequireEncryption: true})
	first := samplesEncode(t, samplesKeyID, []byte(samplesKeyText), jsonPayload(`{"token":"dlg_tok_legacy"}`))
	second := samplesEncode(t, "\uFEFFsecond key", other, jsonPayload(`"second"`))
	opened, err := c.WithSerializationContext(wfCtx("w")).Decode([]*commonpb.Payload{first, second})
	if err != nil || string(opened[0].GetData()) != `{"token":"dlg_tok_legacy"}` || string(opened[1].GetData()) != `"second"` {
		t.Fatalf("opened %v, %v", opened, err)
	}

	runTSCli(t, nil, "", "keys", "retire", samplesKeyID, "--force", "--destroy", "--yes", "--legacy-keys", file, "--keyring", keyring)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Decode([]*commonpb.Payload{first})
		if primitives.CodeOf(err) == primitives.CodeKeyRetired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a retire by the CLI did not reach the running codec: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Decode([]*commonpb.Payload{second}); err != nil {
		t.Fatalf("the other legacy key still decrypts: %v", err)
	}
	for _, k := range ring.List() {
		if k.ID == samplesKeyID && (!k.Destroyed || k.State != keys.LegacyRetired) {
			t.Fatalf("after retire --destroy: %+v", k)
		}
	}
}
