// The Go client of the polyglot example: starts a workflow with a JSON argument and a sealed
// warrant header, optionally signals it, waits, and prints the result as JSON. See
// codecs/go/README.md.
//
//	go run ./examples/client --workflow-type PolyglotGrant --arg '{"resource":"db:orders"}' \
//	    --warrant 'agent-42 may grant db:orders:read' --signal approve --signal-arg '"dana"'
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/examples/internal/setup"
)

func main() { os.Exit(run()) }

func run() int {
	var f setup.Flags
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	f.Register(fs)
	taskQueue := fs.String("task-queue", "polyglot-go", "task queue of the workflow")
	workflowType := fs.String("workflow-type", "PolyglotGrant", "workflow type to start")
	workflowID := fs.String("workflow-id", fmt.Sprintf("polyglot-%d", time.Now().UnixNano()), "workflow id")
	arg := fs.String("arg", "{}", "the workflow's argument, JSON")
	warrant := fs.String("warrant", "", "value of the sealed warrant header (none when empty)")
	signal := fs.String("signal", "", "signal to send after the start (none when empty)")
	signalArg := fs.String("signal-arg", "null", "the signal's argument, JSON")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the result")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	var input, sigValue any
	if err := json.Unmarshal([]byte(*arg), &input); err != nil {
		fmt.Fprintf(os.Stderr, "client: --arg is not JSON: %v\n", err)
		return 2
	}
	if err := json.Unmarshal([]byte(*signalArg), &sigValue); err != nil {
		fmt.Fprintf(os.Stderr, "client: --signal-arg is not JSON: %v\n", err)
		return 2
	}

	env, err := f.Dial()
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	defer env.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *warrant != "" {
		ctx = env.Warrant.WithValue(ctx, *warrant)
	}
	run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: *workflowID, TaskQueue: *taskQueue}, *workflowType, input)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: start %s: %v\n", *workflowType, err)
		return 1
	}
	if *signal != "" {
		if err := env.Client.SignalWorkflow(ctx, *workflowID, run.GetRunID(), *signal, sigValue); err != nil {
			fmt.Fprintf(os.Stderr, "client: signal %s: %v\n", *signal, err)
			return 1
		}
	}
	var result any
	if err := run.Get(ctx, &result); err != nil {
		fmt.Fprintf(os.Stderr, "client: workflow %s: %v\n", *workflowID, err)
		return 1
	}
	out, err := json.Marshal(result)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: result is not JSON: %v\n", err)
		return 1
	}
	fmt.Println(string(out))
	return 0
}
