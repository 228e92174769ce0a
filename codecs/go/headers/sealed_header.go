// Package headers seals one named Temporal header end to end, for delegation tokens and warrants.
//
// Headers are the one place the SDKs never run the payload codec on their own (the Go SDK encodes
// only headers its context propagators mark, the TypeScript SDK none: sdk-typescript#514), yet
// warrant-style authorization puts its tokens exactly there. SealedHeader closes the gap for one
// header, as examples/warrant.ts does for TypeScript and with the same bytes:
//
//   - the client interceptor seals the value with the codec, under the workflow's own scope, before
//     it reaches the server (a failure to seal fails the start: nothing goes out in plaintext);
//   - the workflow interceptors carry it on, still sealed, to every activity the workflow schedules;
//   - the activity interceptor opens it with the activity's serialization context, so a header
//     copied into another workflow's activity fails to open (SCOPE_MISMATCH).
package headers

import (
	"context"
	"errors"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// SealedHeader is one header name sealed with one codec. Register ClientInterceptor on clients
// that start workflows and WorkerInterceptor on workers; use the same name everywhere, in every
// language.
type SealedHeader struct {
	name      string
	codec     *codec.Codec
	namespace string
	values    converter.DataConverter
}

// New seals header `name` with c. namespace is the client's namespace ("" means the codec's
// default namespace); it is bound into the seal together with the workflow id.
func New(name string, c *codec.Codec, namespace string) (*SealedHeader, error) {
	if name == "" {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "header %q expected a non-empty name", "name")
	}
	if c == nil {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "header %q expected a codec", "codec")
	}
	if namespace == "" {
		namespace = c.DefaultNamespace()
	}
	return &SealedHeader{name: name, codec: c, namespace: namespace, values: converter.GetDefaultDataConverter()}, nil
}

// Name is the header's name.
func (h *SealedHeader) Name() string { return h.name }

type valueKey struct{ h *SealedHeader }
type openedKey struct{ h *SealedHeader }
type sealedKey struct{ h *SealedHeader }

// WithValue returns a context whose client.ExecuteWorkflow and SignalWithStartWorkflow calls carry
// value (converted by the SDK's default JSON converter) in the header, sealed.
func (h *SealedHeader) WithValue(ctx context.Context, value any) context.Context {
	return context.WithValue(ctx, valueKey{h}, value)
}

// Value decodes the opened header into valuePtr inside an activity. ok is false when the workflow
// was started without the header.
func (h *SealedHeader) Value(ctx context.Context, valuePtr any) (ok bool, err error) {
	p, _ := ctx.Value(openedKey{h}).(*commonpb.Payload)
	if p == nil {
		return false, nil
	}
	return true, h.values.FromPayload(p, valuePtr)
}

// Present reports, inside a workflow, whether the run was started with the header. The workflow
// only carries it on sealed: it never needs to read it, and has no business holding the token.
func (h *SealedHeader) Present(ctx workflow.Context) bool {
	p, _ := ctx.Value(sealedKey{h}).(*commonpb.Payload)
	return p != nil
}

// Seal seals value for the workflow workflowID: what the client interceptor puts in the header.
func (h *SealedHeader) Seal(workflowID string, value any) (*commonpb.Payload, error) {
	p, err := h.values.ToPayload(value)
	if err != nil {
		return nil, err
	}
	sealed, err := h.codec.WithSerializationContext(converter.WorkflowSerializationContext{Namespace: h.namespace, WorkflowID: workflowID}).Encode([]*commonpb.Payload{p})
	if err != nil {
		return nil, err
	}
	return sealed[0], nil
}

// ClientInterceptor seals the header on workflow starts whose context carries a value (WithValue).
func (h *SealedHeader) ClientInterceptor() interceptor.ClientInterceptor {
	return &clientInterceptor{h: h}
}

// WorkerInterceptor carries the header from a workflow's start to its activities and opens it for
// the activity.
func (h *SealedHeader) WorkerInterceptor() interceptor.WorkerInterceptor {
	return &workerInterceptor{h: h}
}

type clientInterceptor struct {
	interceptor.ClientInterceptorBase
	h *SealedHeader
}

func (c *clientInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &clientOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, h: c.h}
}

type clientOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	h *SealedHeader
}

func (c *clientOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	if err := c.h.putSealed(ctx, in.Options.ID); err != nil {
		return nil, err
	}
	return c.Next.ExecuteWorkflow(ctx, in)
}

func (c *clientOutbound) SignalWithStartWorkflow(ctx context.Context, in *interceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	if err := c.h.putSealed(ctx, in.Options.ID); err != nil {
		return nil, err
	}
	return c.Next.SignalWithStartWorkflow(ctx, in)
}

// putSealed seals the context's value into the outgoing header; a sealing failure fails the call.
func (h *SealedHeader) putSealed(ctx context.Context, workflowID string) error {
	value := ctx.Value(valueKey{h})
	if value == nil {
		return nil
	}
	header := interceptor.Header(ctx)
	if header == nil {
		return errors.New("temporal-envelope: no header in this context to seal " + h.name + " into")
	}
	sealed, err := h.Seal(workflowID, value)
	if err != nil {
		return err
	}
	header[h.name] = sealed
	return nil
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	h *SealedHeader
}

func (w *workerInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	// One per workflow run: the sealed header it keeps is that run's own.
	return &workflowInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, h: w.h}
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, h: w.h}
}

type workflowInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	h      *SealedHeader
	sealed *commonpb.Payload
}

func (w *workflowInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return w.Next.Init(&workflowOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, run: w})
}

func (w *workflowInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	w.sealed = interceptor.WorkflowHeader(ctx)[w.h.name]
	if w.sealed != nil {
		ctx = workflow.WithValue(ctx, sealedKey{w.h}, w.sealed)
	}
	return w.Next.ExecuteWorkflow(ctx, in)
}

type workflowOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	run *workflowInbound
}

func (w *workflowOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	w.carry(ctx)
	return w.Next.ExecuteActivity(ctx, activityType, args...)
}

func (w *workflowOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	w.carry(ctx)
	return w.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

// carry puts the run's sealed header, unchanged, on the activity being scheduled.
func (w *workflowOutbound) carry(ctx workflow.Context) {
	if w.run.sealed == nil {
		return
	}
	if header := interceptor.WorkflowHeader(ctx); header != nil {
		header[w.run.h.name] = w.run.sealed
	}
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	h *SealedHeader
}

func (a *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	sealed := interceptor.Header(ctx)[a.h.name]
	if sealed == nil {
		return a.Next.ExecuteActivity(ctx, in)
	}
	info := activity.GetInfo(ctx)
	sc := converter.ActivitySerializationContext{
		Namespace:    info.Namespace,
		WorkflowID:   info.WorkflowExecution.ID,
		ActivityType: info.ActivityType.Name,
		TaskQueue:    info.TaskQueue,
		IsLocal:      info.IsLocalActivity,
	}
	if info.WorkflowType != nil {
		sc.WorkflowType = info.WorkflowType.Name
	}
	opened, err := a.h.codec.WithSerializationContext(sc).Decode([]*commonpb.Payload{sealed})
	if err != nil {
		// A header that will never open (tampered, another workflow's) fails the activity for good;
		// a KMS outage lets the activity's retry policy try again.
		code := primitives.CodeOf(err)
		return nil, temporal.NewApplicationErrorWithOptions("sealed header "+a.h.name+" did not open", string(code), temporal.ApplicationErrorOptions{
			NonRetryable: !code.Retryable(),
			Cause:        err,
		})
	}
	return a.Next.ExecuteActivity(context.WithValue(ctx, openedKey{a.h}, opened[0]), in)
}
