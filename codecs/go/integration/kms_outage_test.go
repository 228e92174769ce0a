package integration

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

// KMS down on the worker: the workflow task fails with the codec's own error, readable in history
// (it carries only codes and key ids, and reporting it needs no KMS), the worker stays up, and once
// KMS is back the same workflow completes.
func TestKMSOutageFailsTheTaskReadablyAndTheWorkerRecovers(t *testing.T) {
	file := newKeyringFile(t)
	down := &atomicBool{}
	workerSide := newParty(t, file, codec.Options{}, func(p keys.KeyProvider) keys.KeyProvider { return downKMS{p, down} })
	clientSide := newParty(t, file, codec.Options{}, nil)
	startWorker(t, workerSide, "go-outage", func(w worker.Worker) {
		w.RegisterWorkflowWithOptions(waitForSignal, workflow.RegisterOptions{Name: "WaitForSignal"})
	})
	ctx := withTimeout(t, 120*time.Second)

	down.Store(true)
	id := "go-kms-outage-1"
	run, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "go-outage"}, "WaitForSignal", "outage-secret-"+secrets["token"])
	if err != nil {
		t.Fatal(err)
	}
	h := waitForHistory(t, id, func(h rawHistory) bool {
		for _, e := range h.events {
			if e.GetWorkflowTaskFailedEventAttributes() != nil {
				return true
			}
		}
		return false
	})
	for _, e := range h.events {
		if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
			f := a.GetFailure()
			if !strings.Contains(f.GetMessage(), "KMS_UNAVAILABLE") || f.GetEncodedAttributes() != nil {
				t.Fatalf("the task failure must carry our readable error, got %q (encoded %v)", f.GetMessage(), f.GetEncodedAttributes() != nil)
			}
			break
		}
	}
	h.mustNotContain(t, "history during the outage", secrets["token"])

	down.Store(false)
	if err := clientSide.client.SignalWorkflow(ctx, id, "", "proceed", "after-outage"); err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "outage-secret-"+secrets["token"]+":after-outage" {
		t.Fatalf("after the outage: %q %v", out, err)
	}
}
