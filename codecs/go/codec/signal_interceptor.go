package codec

import (
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// SignalInterceptor keeps a KMS outage from losing signals on a Go worker.
//
// The Go SDK (v1.51) decodes a signal's payload only when the workflow receives it from its channel
// (internal/internal_workflow.go, channelImpl.Receive and ReceiveAsyncWithMoreFlag via
// assignValue), and drops a payload that fails to decode, whatever the error: it logs "Corrupted
// signal received on channel" and moves on. converter.NewWorkflowTaskFailureError does not change
// that for signals (converter/errors.go says so). For a refused plaintext or tampered signal,
// dropping is the refusal we want; for a signal that arrived while KMS was down and its data key
// was not cached, it is a lost signal.
//
// This interceptor opens every signal's payloads when the signal event is handled, before the SDK
// puts them on the channel, in the workflow's serialization context:
//
//   - a retryable failure (KMS_UNAVAILABLE, KEY_LIMIT_EXCEEDED) is returned from HandleSignal,
//     which fails the workflow task; Temporal retries it, and the signal, still in history, is
//     handled again once KMS is back. Nothing is lost.
//   - any other failure (PLAINTEXT_REJECTED, TAMPERED_CIPHERTEXT, SCOPE_MISMATCH, …) passes the
//     signal on unchanged, so the SDK refuses it as before: logged and dropped on receive.
//   - opened payloads go on to the channel already opened, so receiving them needs no key (even
//     hours later, when the data key may have left the cache while KMS is down). The codec lets
//     exactly those payload objects through RequireEncryption, by identity (see openedPayloads);
//     a plaintext payload from history is never one of them.
//
// Register it once, in client.Options.Interceptors (workers made from that client use it too) or in
// worker.Options.Interceptors, not both.
type SignalInterceptor struct {
	interceptor.InterceptorBase
	codec *Codec
}

var _ interceptor.Interceptor = (*SignalInterceptor)(nil)

// NewSignalInterceptor opens signals with c. It must be the codec of the worker's data converter.
func NewSignalInterceptor(c *Codec) *SignalInterceptor {
	return &SignalInterceptor{codec: c}
}

// InterceptWorkflow implements interceptor.WorkerInterceptor.
func (s *SignalInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &signalInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, codec: s.codec}
}

type signalInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	codec *Codec
}

// HandleSignal runs while the SDK processes the signal event, outside workflow code: an error here
// fails the workflow task (internal_task_handlers.go, ProcessWorkflowTask returns ProcessEvent's
// error), it does not fail the workflow.
func (s *signalInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	if len(in.Arg.GetPayloads()) == 0 {
		return s.Next.HandleSignal(ctx, in)
	}
	info := workflow.GetInfo(ctx)
	sc := converter.WorkflowSerializationContext{Namespace: info.Namespace, WorkflowID: info.WorkflowExecution.ID}
	opened, err := s.codec.WithSerializationContext(sc).Decode(in.Arg.GetPayloads())
	if err != nil {
		if primitives.IsRetryable(err) {
			return err
		}
		return s.Next.HandleSignal(ctx, in)
	}
	s.codec.opened.add(opened)
	return s.Next.HandleSignal(ctx, &interceptor.HandleSignalInput{SignalName: in.SignalName, Arg: &commonpb.Payloads{Payloads: opened}})
}
