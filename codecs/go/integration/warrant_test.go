package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
)

// The warrant header is sealed to its workflow: copied into another workflow's start (someone with
// start permission replaying a captured header), it does not open in that workflow's activity,
// and the activity fails for good with a readable SCOPE_MISMATCH.
func TestWarrantHeaderDoesNotOpenInAnotherWorkflow(t *testing.T) {
	file := newKeyringFile(t)
	workerSide := newParty(t, file, codec.Options{}, nil)
	clientSide := newParty(t, file, codec.Options{}, nil)
	startWorker(t, workerSide, "go-warrant", func(w worker.Worker) { registerSaga(w, workerSide.warrant) })
	ctx := withTimeout(t, 60*time.Second)

	sealed, err := clientSide.warrant.Seal("go-warrant-owner", secrets["warrant"])
	if err != nil {
		t.Fatal(err)
	}
	id := "go-warrant-thief"
	input, err := converter.WithDataConverterSerializationContext(codec.NewDataConverter(clientSide.codec), converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: id}).ToPayloads(request(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plainClient(t).WorkflowService().StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{
		Namespace: "default", WorkflowId: id, RequestId: "go-warrant-thief-req",
		WorkflowType: &commonpb.WorkflowType{Name: "GrantSaga"}, TaskQueue: &taskqueue.TaskQueue{Name: "go-warrant"},
		Input: input, Header: &commonpb.Header{Fields: map[string]*commonpb.Payload{"warrant": sealed}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := clientSide.client.SignalWorkflow(ctx, id, "", "approve", "dana"); err != nil {
		t.Fatal(err)
	}
	err = clientSide.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var act *temporal.ActivityError
	if !errors.As(err, &act) || !strings.Contains(err.Error(), "SCOPE_MISMATCH") {
		t.Fatalf("expected the activity to fail with SCOPE_MISMATCH, got %v", err)
	}
	h := fetchHistory(t, plainClient(t), id)
	h.mustNotContain(t, "history of the replayed header", secrets["warrant"])
	for _, e := range h.events {
		if a := e.GetActivityTaskFailedEventAttributes(); a != nil {
			if a.GetFailure().GetApplicationFailureInfo().GetNonRetryable() != true || !strings.HasPrefix(a.GetFailure().GetMessage(), "SCOPE_MISMATCH: ") {
				t.Fatalf("activity failure %v", a.GetFailure())
			}
		}
	}
	// The genuine owner's start works with the same header value.
	run, err := clientSide.client.ExecuteWorkflow(clientSide.warrant.WithValue(ctx, secrets["warrant"]), client.StartWorkflowOptions{ID: "go-warrant-owner", TaskQueue: "go-warrant"}, "GrantSaga", request("go-warrant-owner"))
	if err != nil {
		t.Fatal(err)
	}
	_ = clientSide.client.SignalWorkflow(ctx, "go-warrant-owner", "", "approve", "dana")
	var result grantResult
	if err := run.Get(ctx, &result); err != nil || result.ActingFor != secrets["warrant"] {
		t.Fatalf("owner: %+v %v", result, err)
	}
}
