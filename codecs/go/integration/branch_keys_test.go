package integration

import (
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// Branch keys (format v2) through the dev server, next to a per-workflow (format v1) process: a
// client on the default hierarchy starts the saga, a worker with KeyHierarchy "branch" runs it and
// its child. Each opens what the other sealed; the history holds none of the secrets; the worker's
// payloads are version 2, sealed to their own workflow, all under one branch key it made with one
// KMS GenerateDataKey for the parent, the child and every activity.
func TestBranchKeysWorkerNextToAPerWorkflowClient(t *testing.T) {
	file := newKeyringFile(t)
	var workerGenerates, workerDecrypts atomic.Int64
	observer := keys.Observer{OnKMSCall: func(op, _, _ string, _ float64) {
		if op == "generate" {
			workerGenerates.Add(1)
		} else {
			workerDecrypts.Add(1)
		}
	}}
	workerSide := newParty(t, file, codec.Options{RequireEncryption: true, KeyHierarchy: primitives.HierarchyBranch, Observer: observer}, nil)
	clientSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	startWorker(t, workerSide, "go-branch", func(w worker.Worker) { registerSaga(w, workerSide.warrant) })

	id := "go-grant-branch-1"
	parent, child := runGrantSaga(t, clientSide, id, "go-branch")
	found := append(parent.payloads(), child.payloads()...)
	versions := map[string]int{}
	branchKeys := map[string]bool{}
	salts := map[string]string{}
	for _, p := range found {
		if p.meta("encoding") != "binary/encrypted" {
			t.Fatalf("payload not sealed: %s", p)
		}
		versions[p.meta("envelope-version")]++
		if p.meta("envelope-version") != "2" {
			continue
		}
		if p.meta("envelope-dek") != "" || len(p.payload.Metadata["envelope-dek-salt"]) != 32 || p.meta("envelope-namespace") != "default" {
			t.Errorf("not a version-2 header: %s", p)
		}
		branchKeys[p.meta("envelope-branch-key")] = true
		// One salt (so one data key) never serves two workflows.
		if wf, seen := salts[p.meta("envelope-dek-salt")]; seen && wf != p.meta("envelope-workflow-id") {
			t.Errorf("workflows %q and %q share a data key", wf, p.meta("envelope-workflow-id"))
		}
		salts[p.meta("envelope-dek-salt")] = p.meta("envelope-workflow-id")
	}
	// The client sealed the start's input, memo, header, update and signal (v1); the worker the
	// rest: activities, the child, results (v2).
	if versions["1"] == 0 || versions["2"] == 0 || len(versions) != 2 {
		t.Fatalf("versions in history: %v", versions)
	}
	if len(branchKeys) != 1 {
		t.Fatalf("%d wrapped branch keys in history, want the worker's one", len(branchKeys))
	}
	for _, p := range child.payloads() {
		if p.meta("envelope-workflow-id") != id+"-audit" || p.meta("envelope-version") != "2" {
			t.Errorf("child %s sealed to %q in version %s", p, p.meta("envelope-workflow-id"), p.meta("envelope-version"))
		}
	}
	// One GenerateDataKey (the branch key) for the parent, the child and every activity; one
	// Decrypt (the client's data key for the parent).
	if workerGenerates.Load() != 1 || workerDecrypts.Load() != 1 {
		t.Fatalf("worker KMS calls: %d generate, %d decrypt; want 1 and 1", workerGenerates.Load(), workerDecrypts.Load())
	}
}
