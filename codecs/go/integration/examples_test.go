package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
)

// buildExample compiles one of the example programs into dir.
func buildExample(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./examples/"+name)
	cmd.Dir = testenv.ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, b)
	}
	return out
}

// The example programs, as the cross-language end-to-end test will drive them: the example worker
// (PolyglotGrant on polyglot-go), the example client, and a Go stand-in for the Python worker's
// issueCredential activity on polyglot-py, which opens the sealed warrant the client sent.
func TestExamplePrograms(t *testing.T) {
	dir := t.TempDir()
	workerBin, clientBin := buildExample(t, dir, "worker"), buildExample(t, dir, "client")
	file := newKeyringFile(t)

	// The stand-in for the Python side.
	py := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	startWorker(t, py, "polyglot-py", func(w worker.Worker) {
		w.RegisterActivityWithOptions(func(ctx context.Context, grant map[string]any) (map[string]any, error) {
			var warrant string
			if ok, err := py.warrant.Value(ctx, &warrant); err != nil || !ok {
				return nil, err
			}
			return map[string]any{"secret": secrets["credential"], "actingFor": warrant, "resource": grant["resource"]}, nil
		}, activity.RegisterOptions{Name: "issueCredential"})
	})

	flags := []string{"--address", dev.Address, "--namespace", "default", "--require-encryption"}
	wcmd := exec.Command(workerBin, append(flags, "--task-queue", "polyglot-go")...)
	// The example worker seals with branch keys (format v2), the client and the stand-in per
	// workflow (format v1): each opens what the others sealed.
	wcmd.Env = append(os.Environ(), "TEMPORAL_ENVELOPE_KEYRING="+file, "TEMPORAL_ENVELOPE_KEY_HIERARCHY=branch")
	stderr, err := wcmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = wcmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = wcmd.Process.Kill()
			<-exited
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			t.Log("example worker: " + line)
			if strings.Contains(line, "polyglot-go worker ready") {
				close(ready)
			}
		}
		exited <- wcmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("example worker exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("example worker not ready in 60 s")
	}

	id := "go-polyglot-example-1"
	ccmd := exec.Command(clientBin, append(flags, "--keyring", file, "--workflow-type", "PolyglotGrant", "--workflow-id", id,
		"--arg", `{"resource":"db:orders:read","email":"`+secrets["email"]+`"}`, "--warrant", secrets["warrant"],
		"--signal", "approve", "--signal-arg", `"dana@corp.example"`, "--timeout", "60s")...)
	var cerr strings.Builder
	ccmd.Stderr = &cerr
	out, err := ccmd.Output()
	if err != nil {
		t.Fatalf("example client: %v\n%s", err, cerr.String())
	}
	var result struct {
		Grant      map[string]any `json:"grant"`
		ApprovedBy string         `json:"approvedBy"`
		Credential map[string]any `json:"credential"`
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("client printed %q: %v", out, err)
	}
	if result.ApprovedBy != "dana@corp.example" || result.Grant["email"] != secrets["email"] || result.Credential["actingFor"] != secrets["warrant"] || result.Credential["secret"] != secrets["credential"] {
		t.Fatalf("result %s", out)
	}

	h := fetchHistory(t, plainClient(t), id)
	h.mustNotContain(t, "the example's history", secrets["email"], secrets["warrant"], secrets["credential"], "dana@corp.example")
	versions := map[string]int{}
	for _, p := range h.payloads() {
		if p.meta("encoding") != "binary/encrypted" || p.meta("envelope-workflow-id") != id {
			t.Errorf("%s not sealed to %s", p, id)
		}
		versions[p.meta("envelope-version")]++
	}
	if versions["1"] == 0 || versions["2"] == 0 {
		t.Errorf("versions in the example's history %v: want the client's version 1 and the branch-key worker's version 2", versions)
	}

	// Without a warrant the example workflow refuses to run.
	ccmd = exec.Command(clientBin, append(flags, "--keyring", file, "--workflow-id", id+"-nowarrant", "--arg", `{}`, "--timeout", "30s")...)
	cerr.Reset()
	ccmd.Stderr = &cerr
	if _, err := ccmd.Output(); err == nil || !strings.Contains(cerr.String(), "needs the sealed warrant header") {
		t.Fatalf("a start without a warrant: %v %s", err, cerr.String())
	}
}
