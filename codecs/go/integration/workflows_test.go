package integration

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/headers"
)

// Every secret the saga carries; none may appear in stored history.
var secrets = map[string]string{
	"token":      "dlg_tok_Go7Hq2ZpL9sWxK4vRm",
	"email":      "ann.go.secret@patient.example",
	"warrant":    "warrant:agent-42 may grant db:orders:read for ann (go)",
	"note":       "approved per ticket SEC-98765-go-private",
	"credential": "pw-Go-CANARY-3b9f0c",
	"memo":       "memo-Go-CANARY-cost-center-77",
}

type grantRequest struct {
	RequestID        string
	Email            string
	DelegationToken  string
	Resource         string
	FailNotification bool
}

type grantResult struct {
	Stage      string
	Credential string
	ActingFor  string
	ApprovedBy string
	Note       string
	Audit      string
	Reason     string
}

// grantSaga touches every kind of payload: input, memo, header, update, signal, activity input and
// result, a child workflow's input and result, the result, and (with FailNotification) a failure.
func grantSaga(ctx workflow.Context, req grantRequest) (grantResult, error) {
	var note string
	if err := workflow.SetUpdateHandler(ctx, "setNote", func(ctx workflow.Context, n string) (string, error) {
		note = n
		return "note set for " + req.Email, nil
	}); err != nil {
		return grantResult{}, err
	}
	var approvedBy string
	workflow.GetSignalChannel(ctx, "approve").Receive(ctx, &approvedBy)

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 20 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2, InitialInterval: 100 * time.Millisecond}})
	var grant grantResult
	if err := workflow.ExecuteActivity(actx, "Provision", req).Get(ctx, &grant); err != nil {
		return grantResult{}, err
	}
	if req.FailNotification {
		if err := workflow.ExecuteActivity(actx, "Notify", req).Get(ctx, nil); err != nil {
			return grantResult{Stage: "compensated", Reason: err.Error()}, nil
		}
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "-audit"})
	var audit string
	if err := workflow.ExecuteChildWorkflow(cctx, "AuditChild", "granted "+req.Resource+" to "+req.Email).Get(ctx, &audit); err != nil {
		return grantResult{}, err
	}
	grant.Stage, grant.ApprovedBy, grant.Note, grant.Audit = "granted", approvedBy, note, audit
	return grant, nil
}

func auditChild(_ workflow.Context, record string) (string, error) { return "audited: " + record, nil }

// failingSaga fails with a message that carries PII.
func failingSaga(_ workflow.Context, req grantRequest) (string, error) {
	return "", temporal.NewNonRetryableApplicationError("no grant for "+req.Email, "GrantRefused", nil)
}

type activities struct{ warrant *headers.SealedHeader }

func (a *activities) Provision(ctx context.Context, req grantRequest) (grantResult, error) {
	var w string
	if _, err := a.warrant.Value(ctx, &w); err != nil {
		return grantResult{}, err
	}
	return grantResult{Credential: secrets["credential"], ActingFor: w}, nil
}

func (a *activities) Notify(_ context.Context, req grantRequest) error {
	return temporal.NewNonRetryableApplicationError("mailbox of "+req.Email+" rejected the notice", "NotifyFailed", errors.New("smtp 550 for "+req.Email))
}

func registerSaga(w worker.Worker, warrant *headers.SealedHeader) {
	w.RegisterWorkflowWithOptions(grantSaga, workflow.RegisterOptions{Name: "GrantSaga"})
	w.RegisterWorkflowWithOptions(auditChild, workflow.RegisterOptions{Name: "AuditChild"})
	w.RegisterWorkflowWithOptions(failingSaga, workflow.RegisterOptions{Name: "FailingSaga"})
	w.RegisterActivity(&activities{warrant: warrant})
}

func request(id string) grantRequest {
	return grantRequest{RequestID: id, Email: secrets["email"], DelegationToken: secrets["token"], Resource: "db:orders:read"}
}
