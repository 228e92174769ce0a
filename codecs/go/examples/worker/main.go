// The Go side of the polyglot example: a worker on task queue polyglot-go with workflow type
// PolyglotGrant, sealed with the temporal-envelope codec. See codecs/go/README.md.
//
//	go run ./examples/worker --address 127.0.0.1:7233 --keyring ~/.temporal-envelope/keyring.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/examples/internal/setup"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/headers"
)

func main() {
	var f setup.Flags
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	f.Register(fs)
	taskQueue := fs.String("task-queue", "polyglot-go", "task queue this worker polls")
	activityQueue := fs.String("activity-task-queue", "polyglot-py", "task queue of the issueCredential activity (the Python worker's)")
	_ = fs.Parse(os.Args[1:])

	env, err := f.Dial()
	if err != nil {
		log.Fatalf("worker: %v", err)
	}
	defer env.Close()
	w := worker.New(env.Client, *taskQueue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{env.Warrant.WorkerInterceptor()}})
	w.RegisterWorkflowWithOptions(polyglotGrant(env.Warrant, *activityQueue), workflow.RegisterOptions{Name: "PolyglotGrant"})
	if err := w.Start(); err != nil {
		log.Fatalf("worker: %v", err)
	}
	// Tests and scripts wait for this line.
	fmt.Fprintf(os.Stderr, "polyglot-go worker ready: namespace %s, task queue %s\n", f.Namespace, *taskQueue)
	<-worker.InterruptCh()
	w.Stop()
}

// polyglotGrant: input a JSON object; requires the sealed warrant header (carried on, still sealed,
// to the activity); waits for signal "approve" (a JSON string: who approved); calls activity
// issueCredential on activityQueue with the input; returns {grant, approvedBy, credential}.
func polyglotGrant(warrant *headers.SealedHeader, activityQueue string) func(workflow.Context, map[string]any) (map[string]any, error) {
	return func(ctx workflow.Context, grant map[string]any) (map[string]any, error) {
		if !warrant.Present(ctx) {
			return nil, temporal.NewNonRetryableApplicationError("PolyglotGrant needs the sealed warrant header", "MissingWarrant", errors.New("no warrant"))
		}
		var approvedBy string
		workflow.GetSignalChannel(ctx, "approve").Receive(ctx, &approvedBy)
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:           activityQueue,
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		})
		var credential any
		if err := workflow.ExecuteActivity(ctx, "issueCredential", grant).Get(ctx, &credential); err != nil {
			return nil, err
		}
		return map[string]any{"grant": grant, "approvedBy": approvedBy, "credential": credential}, nil
	}
}
