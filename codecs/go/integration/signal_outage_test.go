package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

// kmsParty is a process whose data keys are wrapped by a KMS key in moto, reached at endpoint
// (moto itself, or the fault proxy in front of it). withGuard registers codec.SignalInterceptor.
func kmsParty(t *testing.T, endpoint, keyARN string, m *testenv.Moto, withGuard bool) (*codec.Codec, client.Client) {
	t.Helper()
	ring, err := keys.NewAwsKmsKeyring(keys.AwsKmsOptions{
		Keys: []keys.AwsKmsKey{{KeyID: keyARN}}, Region: "us-east-1", Endpoint: endpoint, Credentials: m.Credentials(),
		RequestTimeout: 2 * time.Second, MaxAttempts: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ring.Close() })
	c, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{ring}, RequireEncryption: true})
	if err != nil {
		t.Fatal(err)
	}
	var interceptors []interceptor.ClientInterceptor
	if withGuard {
		interceptors = append(interceptors, codec.NewSignalInterceptor(c))
	}
	dc, fc := codec.Converters(c)
	cl, err := client.Dial(client.Options{
		HostPort: dev.Address, Namespace: "default", DataConverter: dc, FailureConverter: fc,
		Interceptors: interceptors, Logger: testLogger{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

// A signal that arrives while KMS is down, sealed with a data key the worker has not cached (it
// comes from another process), cannot be opened until KMS is back. The Go SDK drops a signal whose
// payload does not decode; codec.SignalInterceptor turns a retryable failure into a failed
// workflow task instead, so Temporal redelivers the signal once KMS answers again. KMS is moto
// behind a proxy that resets connections while "down".
func TestSignalDuringKMSOutage(t *testing.T) {
	m, err := testenv.StartMoto()
	if err != nil {
		t.Fatalf("KMS endpoint: %v", err)
	}
	t.Cleanup(m.Stop)
	keyARN, err := m.CreateKey(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := testenv.StartFaultProxy(strings.TrimPrefix(m.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	_, starter := kmsParty(t, m.Endpoint, keyARN, m, false)
	_, signaller := kmsParty(t, m.Endpoint, keyARN, m, false)

	// run starts WaitForSignal on a fresh worker (KMS through the proxy), waits until the worker
	// has opened its input, then signals it from another process while KMS is down.
	run := func(t *testing.T, id string, withGuard bool) client.WorkflowRun {
		proxy.SetDown(false)
		_, workerClient := kmsParty(t, proxy.Endpoint, keyARN, m, withGuard)
		queue := "go-signal-outage-" + id
		w := worker.New(workerClient, queue, worker.Options{})
		w.RegisterWorkflowWithOptions(waitForSignal, workflow.RegisterOptions{Name: "WaitForSignal"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		ctx := withTimeout(t, 120*time.Second)
		wf, err := starter.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, "WaitForSignal", "outage-secret")
		if err != nil {
			t.Fatal(err)
		}
		waitForHistory(t, id, func(h rawHistory) bool {
			return h.count(func(e *historypb.HistoryEvent) bool { return e.GetWorkflowTaskCompletedEventAttributes() != nil }) > 0
		})
		refusedBefore := proxy.Refused()
		proxy.SetDown(true)
		if err := signaller.SignalWorkflow(ctx, id, "", "proceed", "sealed-during-outage"); err != nil {
			t.Fatal(err)
		}
		// The worker has handled the signal event: a task after it completed or failed.
		waitForHistory(t, id, func(h rawHistory) bool {
			return h.countAfterSignal(func(e *historypb.HistoryEvent) bool {
				return e.GetWorkflowTaskCompletedEventAttributes() != nil || e.GetWorkflowTaskFailedEventAttributes() != nil
			}) > 0
		})
		if proxy.Refused() == refusedBefore {
			t.Fatal("the worker never tried KMS during the outage: the signal's data key was cached, the test proves nothing")
		}
		return wf
	}

	t.Run("the SDK alone drops the signal", func(t *testing.T) {
		id := "go-signal-outage-unguarded"
		wf := run(t, id, false)
		h := fetchHistory(t, plainClient(t), id)
		if n := h.count(func(e *historypb.HistoryEvent) bool { return e.GetWorkflowTaskFailedEventAttributes() != nil }); n != 0 {
			t.Fatalf("expected the SDK to complete the task and drop the signal, found %d failed tasks", n)
		}
		proxy.SetDown(false)
		ctx := withTimeout(t, 60*time.Second)
		if err := signaller.SignalWorkflow(ctx, id, "", "proceed", "sent-after-the-outage"); err != nil {
			t.Fatal(err)
		}
		var out string
		if err := wf.Get(ctx, &out); err != nil {
			t.Fatal(err)
		}
		// The signal sent during the outage is in history but the workflow never saw it.
		if out != "outage-secret:sent-after-the-outage" {
			t.Fatalf("got %q", out)
		}
	})

	t.Run("with codec.SignalInterceptor the task fails and the signal arrives after the outage", func(t *testing.T) {
		id := "go-signal-outage-guarded"
		wf := run(t, id, true)
		h := fetchHistory(t, plainClient(t), id)
		var failure string
		for _, e := range h.events {
			if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
				failure = a.GetFailure().GetMessage()
			}
		}
		if !strings.Contains(failure, "KMS_UNAVAILABLE") {
			t.Fatalf("expected the workflow task to fail with KMS_UNAVAILABLE, got %q", failure)
		}
		proxy.SetDown(false)
		ctx := withTimeout(t, 90*time.Second)
		var out string
		if err := wf.Get(ctx, &out); err != nil {
			t.Fatal(err)
		}
		if out != "outage-secret:sealed-during-outage" {
			t.Fatalf("the signal sent during the outage was lost: got %q", out)
		}
		signals := 0
		for _, e := range fetchHistory(t, plainClient(t), id).events {
			if e.GetWorkflowExecutionSignaledEventAttributes() != nil {
				signals++
			}
		}
		if signals != 1 {
			t.Fatalf("expected exactly the one signal, found %d", signals)
		}
	})
}

// count is how many events satisfy pred.
func (h rawHistory) count(pred func(*historypb.HistoryEvent) bool) int {
	n := 0
	for _, e := range h.events {
		if pred(e) {
			n++
		}
	}
	return n
}

// countAfterSignal is how many events after the last WorkflowExecutionSignaled satisfy pred.
func (h rawHistory) countAfterSignal(pred func(*historypb.HistoryEvent) bool) int {
	n, seen := 0, false
	for _, e := range h.events {
		switch {
		case e.GetWorkflowExecutionSignaledEventAttributes() != nil:
			n, seen = 0, true
		case seen && pred(e):
			n++
		}
	}
	return n
}
