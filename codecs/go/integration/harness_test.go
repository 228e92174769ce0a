package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/headers"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

// party is one process's view: its own keyring instance, codec (and so DEK cache) and client.
type party struct {
	ring    *keys.LocalKeyring
	codec   *codec.Codec
	client  client.Client
	warrant *headers.SealedHeader
}

// newKeyringFile writes a fresh keyring (mode 0600), as `temporal-envelope keys init` does.
func newKeyringFile(t *testing.T) string {
	t.Helper()
	doc, err := keys.NewKeyringDocument()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "keyring.json")
	if err := keys.WriteKeyring(file, doc); err != nil {
		t.Fatal(err)
	}
	return file
}

// newParty opens the keyring file (polled every 100 ms) and connects a client with the codec, the
// failure converter, the signal interceptor (so its workers use it) and the warrant interceptor,
// as the README says to. wrap, when given, puts a provider in front of the keyring (a KMS that can
// fail).
func newParty(t *testing.T, keyringFile string, opts codec.Options, wrap func(keys.KeyProvider) keys.KeyProvider) *party {
	t.Helper()
	ring, err := keys.OpenLocalKeyring(keys.LocalKeyringOptions{Path: keyringFile, WatchInterval: 100 * time.Millisecond, Warn: func(m string) { t.Log(m) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ring.Close() })
	var provider keys.KeyProvider = ring
	if wrap != nil {
		provider = wrap(ring)
	}
	opts.KeyProviders = []keys.KeyProvider{provider}
	c, err := codec.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	warrant, err := headers.New("warrant", c, "default")
	if err != nil {
		t.Fatal(err)
	}
	dc, fc := codec.Converters(c)
	cl, err := client.Dial(client.Options{
		HostPort: dev.Address, Namespace: "default", DataConverter: dc, FailureConverter: fc,
		Interceptors: []interceptor.ClientInterceptor{codec.NewSignalInterceptor(c), warrant.ClientInterceptor()},
		Logger:       testLogger{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &party{ring: ring, codec: c, client: cl, warrant: warrant}
}

// plainClient is a client without any codec: what a worker or attacker without keys uses.
func plainClient(t *testing.T) client.Client {
	t.Helper()
	cl, err := client.Dial(client.Options{HostPort: dev.Address, Namespace: "default", Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// startWorker runs a worker of p on taskQueue until the test ends.
func startWorker(t *testing.T, p *party, taskQueue string, register func(worker.Worker)) {
	t.Helper()
	w := worker.New(p.client, taskQueue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{p.warrant.WorkerInterceptor()}})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger sends the SDK's warnings and errors to the test log (debug and info are dropped).
type testLogger struct{ t *testing.T }

func (testLogger) Debug(string, ...any) {}
func (testLogger) Info(string, ...any)  {}
func (l testLogger) Warn(msg string, kv ...any) {
	l.t.Helper()
	l.t.Log(append([]any{"WARN", msg}, kv...)...)
}
func (l testLogger) Error(msg string, kv ...any) {
	l.t.Helper()
	l.t.Log(append([]any{"ERROR", msg}, kv...)...)
}
