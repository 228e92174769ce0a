package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

func secretValues() []string {
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		out = append(out, s)
	}
	return out
}

// A Go client and a Go worker (separate codecs, one keyring file) run the saga; the stored history,
// fetched without any codec, holds none of its secrets, and every payload in it is sealed to its
// own workflow, headers and memo included.
func TestRoundTripHistoryIsSealedPerWorkflow(t *testing.T) {
	file := newKeyringFile(t)
	workerSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	clientSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	startWorker(t, workerSide, "go-roundtrip", func(w worker.Worker) { registerSaga(w, workerSide.warrant) })

	id := "go-grant-happy-1"
	ctx := withTimeout(t, 60*time.Second)
	run, err := clientSide.client.ExecuteWorkflow(clientSide.warrant.WithValue(ctx, secrets["warrant"]),
		client.StartWorkflowOptions{ID: id, TaskQueue: "go-roundtrip", Memo: map[string]any{"costCenter": secrets["memo"]}}, "GrantSaga", request(id))
	if err != nil {
		t.Fatal(err)
	}
	upd, err := clientSide.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: "setNote", Args: []any{secrets["note"]}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	var updated string
	if err := upd.Get(ctx, &updated); err != nil || updated != "note set for "+secrets["email"] {
		t.Fatalf("update: %q %v", updated, err)
	}
	if err := clientSide.client.SignalWorkflow(ctx, id, "", "approve", "dana@corp.example"); err != nil {
		t.Fatal(err)
	}
	var result grantResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if result.Stage != "granted" || result.Credential != secrets["credential"] || result.ActingFor != secrets["warrant"] || result.Note != secrets["note"] || !strings.Contains(result.Audit, secrets["email"]) {
		t.Fatalf("result %+v", result)
	}

	raw := plainClient(t)
	parent, child := fetchHistory(t, raw, id), fetchHistory(t, raw, id+"-audit")
	parent.mustNotContain(t, "parent history", secretValues()...)
	child.mustNotContain(t, "child history", secretValues()...)

	found := append(parent.payloads(), child.payloads()...)
	var notSealed []string
	for _, p := range found {
		if p.meta("encoding") != "binary/encrypted" || p.meta("envelope-version") != "1" {
			notSealed = append(notSealed, p.String())
		}
	}
	if len(notSealed) > 0 {
		t.Fatalf("payloads not sealed: %v", notSealed)
	}
	types := map[string]bool{}
	for _, p := range found {
		types[p.eventType] = true
	}
	for _, want := range []string{"WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
		"ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_COMPLETED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED", "CHILD_WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"} {
		if !types[want] {
			t.Errorf("no payload found in %s", want)
		}
	}
	has := func(event, pathPart string) bool {
		return slices.ContainsFunc(found, func(p foundPayload) bool { return p.eventType == event && strings.Contains(p.path, pathPart) })
	}
	for _, c := range [][2]string{{"WORKFLOW_EXECUTION_STARTED", "header.fields.warrant"}, {"ACTIVITY_TASK_SCHEDULED", "header.fields.warrant"}, {"WORKFLOW_EXECUTION_STARTED", "memo.fields.costCenter"}} {
		if !has(c[0], c[1]) {
			t.Errorf("no sealed %s in %s", c[1], c[0])
		}
	}

	// Each workflow's payloads are sealed to that workflow: the child's input and result, also
	// where they appear in the parent's history, to the child.
	childEvents := map[string]bool{"START_CHILD_WORKFLOW_EXECUTION_INITIATED": true, "CHILD_WORKFLOW_EXECUTION_COMPLETED": true}
	for _, p := range parent.payloads() {
		want := id
		if childEvents[p.eventType] {
			want = id + "-audit"
		}
		if p.meta("envelope-workflow-id") != want || p.meta("envelope-namespace") != "default" {
			t.Errorf("%s sealed to %q, want %q", p, p.meta("envelope-workflow-id"), want)
		}
	}
	for _, p := range child.payloads() {
		if p.meta("envelope-workflow-id") != id+"-audit" {
			t.Errorf("child %s sealed to %q", p, p.meta("envelope-workflow-id"))
		}
	}
	// One DEK per workflow per process: the client's (input, memo, header, update, signal) and the
	// worker's; the child's only the worker's; none shared between workflows.
	deks := func(wf string) map[string]bool {
		out := map[string]bool{}
		for _, p := range found {
			if p.meta("envelope-workflow-id") == wf {
				out[p.meta("envelope-dek")] = true
			}
		}
		return out
	}
	if n := len(deks(id)); n != 2 {
		t.Errorf("%d data keys for the parent, want 2", n)
	}
	if n := len(deks(id + "-audit")); n != 1 {
		t.Errorf("%d data keys for the child, want 1", n)
	}
	for d := range deks(id) {
		if deks(id + "-audit")[d] {
			t.Error("parent and child share a data key")
		}
	}

	// And all of it opens again, each payload in its own workflow's context.
	for _, p := range found {
		wf := p.meta("envelope-workflow-id")
		if _, err := clientSide.codec.WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: wf}).Decode([]*commonpb.Payload{p.payload}); err != nil {
			t.Errorf("%s does not open: %v", p, err)
		}
	}
}

// Failure messages and stack traces are sealed too (EncodeCommonAttributes), to their workflow.
func TestFailureMessagesAreSealed(t *testing.T) {
	file := newKeyringFile(t)
	workerSide := newParty(t, file, codec.Options{}, nil)
	clientSide := newParty(t, file, codec.Options{}, nil)
	startWorker(t, workerSide, "go-failures", func(w worker.Worker) { registerSaga(w, workerSide.warrant) })
	ctx := withTimeout(t, 60*time.Second)

	id := "go-grant-compensate-1"
	req := request(id)
	req.FailNotification = true
	run, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "go-failures"}, "GrantSaga", req)
	if err != nil {
		t.Fatal(err)
	}
	if err := clientSide.client.SignalWorkflow(ctx, id, "", "approve", "dana"); err != nil {
		t.Fatal(err)
	}
	var result grantResult
	if err := run.Get(ctx, &result); err != nil || result.Stage != "compensated" || !strings.Contains(result.Reason, secrets["email"]) {
		t.Fatalf("%+v %v", result, err)
	}
	h := fetchHistory(t, plainClient(t), id)
	h.mustNotContain(t, "history of the compensated saga", secretValues()...)
	var checked bool
	for _, e := range h.events {
		if a := e.GetActivityTaskFailedEventAttributes(); a != nil {
			f := a.GetFailure()
			if f.GetMessage() != "Encoded failure" || string(f.GetEncodedAttributes().GetMetadata()["envelope-workflow-id"]) != id {
				t.Fatalf("activity failure not sealed to the workflow: %v", f)
			}
			if f.GetCause() != nil && f.GetCause().GetMessage() != "Encoded failure" {
				t.Fatalf("cause not sealed: %v", f.GetCause())
			}
			checked = true
		}
	}
	if !checked {
		t.Fatal("no ActivityTaskFailed event")
	}

	id = "go-grant-refused-1"
	run, err = clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "go-failures"}, "FailingSaga", request(id))
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !strings.Contains(app.Error(), "no grant for "+secrets["email"]) {
		t.Fatalf("the client must read the sealed message: %v", err)
	}
	h = fetchHistory(t, plainClient(t), id)
	h.mustNotContain(t, "history of the failed workflow", secrets["email"])
	for _, e := range h.events {
		if a := e.GetWorkflowExecutionFailedEventAttributes(); a != nil && a.GetFailure().GetMessage() != "Encoded failure" {
			t.Fatalf("workflow failure not sealed: %v", a.GetFailure())
		}
	}
}

// requireEncryption: a plaintext signal (sent by someone with signal permission but no key) is
// refused (the Go SDK drops a signal that does not decode); the workflow goes on with the sealed
// one only.
func TestRequireEncryptionRefusesAPlaintextSignal(t *testing.T) {
	file := newKeyringFile(t)
	workerSide := newParty(t, file, codec.Options{RequireEncryption: true}, nil)
	clientSide := newParty(t, file, codec.Options{}, nil)
	startWorker(t, workerSide, "go-require", func(w worker.Worker) { registerSaga(w, workerSide.warrant) })
	ctx := withTimeout(t, 60*time.Second)

	id := "go-grant-injected-1"
	run, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "go-require"}, "GrantSaga", request(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := plainClient(t).SignalWorkflow(ctx, id, "", "approve", "mallory-injected"); err != nil {
		t.Fatal(err)
	}
	// Wait until the worker has seen (and dropped) the plaintext signal before sending the real one.
	waitForHistory(t, id, func(h rawHistory) bool {
		seenSignal, taskAfter := false, false
		for _, e := range h.events {
			if e.GetWorkflowExecutionSignaledEventAttributes() != nil {
				seenSignal = true
			} else if seenSignal && e.GetWorkflowTaskCompletedEventAttributes() != nil {
				taskAfter = true
			}
		}
		return taskAfter
	})
	if err := clientSide.client.SignalWorkflow(ctx, id, "", "approve", "dana"); err != nil {
		t.Fatal(err)
	}
	var result grantResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if result.ApprovedBy != "dana" {
		t.Fatalf("the workflow acted on %q", result.ApprovedBy)
	}
	var plain int
	for _, p := range fetchHistory(t, plainClient(t), id).payloads() {
		if p.eventType == "WORKFLOW_EXECUTION_SIGNALED" && p.meta("encoding") == "json/plain" {
			plain++
		}
	}
	if plain != 1 {
		t.Fatalf("expected the injected plaintext signal in history (refused by the worker), found %d", plain)
	}
	// A permanent refusal is not retried: codec.SignalInterceptor fails the task only for retryable
	// errors, so the refused signal is dropped and the workflow goes on.
	for _, e := range fetchHistory(t, plainClient(t), id).events {
		if e.GetWorkflowTaskFailedEventAttributes() != nil {
			t.Fatalf("the refused signal failed a workflow task: %v", e.GetWorkflowTaskFailedEventAttributes().GetFailure().GetMessage())
		}
	}
}

func waitForHistory(t *testing.T, id string, cond func(rawHistory) bool) rawHistory {
	t.Helper()
	raw := plainClient(t)
	deadline := time.Now().Add(45 * time.Second)
	for {
		h := fetchHistory(t, raw, id)
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("history of %s never reached the expected state", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// downKMS is a key provider whose KMS can be switched off: every call then fails retryably.
type downKMS struct {
	keys.KeyProvider
	down *atomicBool
}

func (d downKMS) GenerateDataKey(ctx context.Context, s primitives.Scope) (keys.GeneratedDataKey, error) {
	if d.down.Load() {
		return keys.GeneratedDataKey{}, primitives.Errorf(primitives.CodeKmsUnavailable, "KMS GenerateDataKey with %s timed out after 3000 ms", d.PrimaryKeyID())
	}
	return d.KeyProvider.GenerateDataKey(ctx, s)
}

func (d downKMS) DecryptDataKey(ctx context.Context, id string, w []byte, s primitives.Scope) ([]byte, error) {
	if d.down.Load() {
		return nil, primitives.Errorf(primitives.CodeKmsUnavailable, "KMS Decrypt with %s timed out after 3000 ms", id)
	}
	return d.KeyProvider.DecryptDataKey(ctx, id, w, s)
}

// sdk-go#2000: the SDK once sent plaintext when the codec failed. A start whose input cannot be
// sealed must fail, and no workflow may exist afterwards.
func TestEncodeFailureFailsTheStartAndSendsNothing(t *testing.T) {
	file := newKeyringFile(t)
	down := &atomicBool{}
	down.Store(true)
	clientSide := newParty(t, file, codec.Options{}, func(p keys.KeyProvider) keys.KeyProvider { return downKMS{p, down} })
	ctx := withTimeout(t, 30*time.Second)
	id := "go-encode-fails-1"
	_, err := clientSide.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "nobody"}, "GrantSaga", request(id))
	if primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("expected KMS_UNAVAILABLE from the start, got %v", err)
	}
	_, err = plainClient(t).WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{Namespace: "default", Execution: &commonpb.WorkflowExecution{WorkflowId: id}})
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("a workflow was started anyway: %v", err)
	}
	if err := clientSide.client.SignalWorkflow(ctx, "go-grant-happy-1", "", "approve", "x"); primitives.CodeOf(err) != primitives.CodeKmsUnavailable {
		t.Fatalf("a signal that cannot be sealed must fail before it is sent: %v", err)
	}
}
