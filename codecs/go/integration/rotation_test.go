package integration

import (
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

func waitForSignal(ctx workflow.Context, secret string) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "proceed").Receive(ctx, &v)
	return secret + ":" + v, nil
}

// A keyring rotation (the file rewritten as `temporal-envelope keys rotate` does) reaches a running
// worker and client without a restart: a workflow started before it completes after it, its result
// is sealed under the new KEK, new workflows use the new KEK, and all of it opens.
func TestKeyringRotationReachesARunningWorker(t *testing.T) {
	file := newKeyringFile(t)
	workerSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	clientSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	startWorker(t, workerSide, "go-rotation", func(w worker.Worker) {
		w.RegisterWorkflowWithOptions(waitForSignal, workflow.RegisterOptions{Name: "WaitForSignal"})
	})
	ctx := withTimeout(t, 90*time.Second)
	before := workerSide.ring.PrimaryKeyID()

	waiting, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "go-rotate-waiting", TaskQueue: "go-rotation"}, "WaitForSignal", "rotation-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	// The worker has run the workflow's first task (and cached a data key under the old KEK).
	waitForHistory(t, "go-rotate-waiting", func(h rawHistory) bool {
		for _, e := range h.events {
			if e.GetWorkflowTaskCompletedEventAttributes() != nil {
				return true
			}
		}
		return false
	})

	after, err := testenv.RotateKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for workerSide.ring.PrimaryKeyID() != after || clientSide.ring.PrimaryKeyID() != after {
		if time.Now().After(deadline) {
			t.Fatalf("rotation not picked up: worker %s, client %s, want %s", workerSide.ring.PrimaryKeyID(), clientSide.ring.PrimaryKeyID(), after)
		}
		time.Sleep(20 * time.Millisecond)
	}

	fresh, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "go-rotate-fresh", TaskQueue: "go-rotation"}, "WaitForSignal", "rotation-secret-2")
	if err != nil {
		t.Fatal(err)
	}
	for id, run := range map[string]client.WorkflowRun{"go-rotate-waiting": waiting, "go-rotate-fresh": fresh} {
		if err := clientSide.client.SignalWorkflow(ctx, id, "", "proceed", "go"); err != nil {
			t.Fatal(err)
		}
		var out string
		if err := run.Get(ctx, &out); err != nil {
			t.Fatal(err)
		}
	}

	kek := func(id, event string) string {
		for _, p := range fetchHistory(t, plainClient(t), id).payloads() {
			if p.eventType == event {
				return p.meta("encryption-key-id")
			}
		}
		t.Fatalf("no payload in %s of %s", event, id)
		return ""
	}
	if got := kek("go-rotate-waiting", "WORKFLOW_EXECUTION_STARTED"); got != before {
		t.Errorf("input of the waiting workflow under %s, want the old KEK %s", got, before)
	}
	if got := kek("go-rotate-waiting", "WORKFLOW_EXECUTION_COMPLETED"); got != after {
		t.Errorf("the running worker sealed the result under %s, want the new KEK %s", got, after)
	}
	for _, event := range []string{"WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_COMPLETED"} {
		if got := kek("go-rotate-fresh", event); got != after {
			t.Errorf("%s of the new workflow under %s, want %s", event, got, after)
		}
	}

	// A reader that only knows the rotated file opens both KEKs' payloads.
	ring, err := keys.OpenLocalKeyring(keys.LocalKeyringOptions{Path: file, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{ring}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"go-rotate-waiting", "go-rotate-fresh"} {
		pc := reader.WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: id})
		for _, p := range fetchHistory(t, plainClient(t), id).payloads() {
			if _, err := pc.Decode([]*commonpb.Payload{p.payload}); err != nil {
				t.Errorf("%s %s: %v", id, p, err)
			}
		}
	}
}
