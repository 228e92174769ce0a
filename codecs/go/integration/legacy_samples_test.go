package integration

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

const (
	legacyKeyID = "samples-key"
	legacyKey   = "test-key-test-key-test-key-test!" // the samples' hard-coded 32-character key
)

// samplesCodec stands in for samples-go's encryption codec, written from (not copied out of)
// encryption/codec.go and crypt.go: each payload marshalled, sealed with AES-GCM under a random
// 12-byte nonce prefixed to the output, no additional data; metadata encoding binary/encrypted and
// encryption-key-id.
type samplesCodec struct{ gcm cipher.AEAD }

func newSamplesCodec(t *testing.T) *samplesCodec {
	t.Helper()
	block, err := aes.NewCipher([]byte(legacyKey))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &samplesCodec{gcm: gcm}
}

func (c *samplesCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, c.gcm.NonceSize())
		if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte(legacyKeyID)},
			Data:     c.gcm.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

func (c *samplesCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()["encoding"]) != "binary/encrypted" {
			out[i] = p
			continue
		}
		n := c.gcm.NonceSize()
		plain, err := c.gcm.Open(nil, p.GetData()[:n], p.GetData()[n:], nil)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plain, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func legacyGrant(ctx workflow.Context, token string) (string, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 20 * time.Second})
	var provisioned string
	if err := workflow.ExecuteActivity(actx, "ProvisionLegacy", token).Get(ctx, &provisioned); err != nil {
		return "", err
	}
	var approvedBy string
	workflow.GetSignalChannel(ctx, "approve").Receive(ctx, &approvedBy)
	return provisioned + " approved by " + approvedBy, nil
}

func provisionLegacy(_ context.Context, token string) (string, error) {
	return "credential for " + token, nil
}

func registerLegacy(w worker.Worker) {
	w.RegisterWorkflowWithOptions(legacyGrant, workflow.RegisterOptions{Name: "LegacyGrant"})
	w.RegisterActivityWithOptions(provisionLegacy, activity.RegisterOptions{Name: "ProvisionLegacy"})
}

// A workflow started and progressed by a client and worker on the samples codec finishes on ours:
// the worker restarts with the envelope codec and the imported legacy key, replays the samples
// payloads (input, activity input and result), and everything written from then on is sealed in
// the envelope, in the same history.
func TestASamplesCodecWorkflowFinishesOnTheEnvelopeCodec(t *testing.T) {
	const wfID, queue = "go-legacy-samples", "go-legacy-samples"
	token := "dlg_tok_legacy_go_CANARY"
	ctx := withTimeout(t, 90*time.Second)

	// Before: the samples codec everywhere.
	samplesDC := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), newSamplesCodec(t))
	samplesClient, err := client.Dial(client.Options{HostPort: dev.Address, Namespace: "default", DataConverter: samplesDC, Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer samplesClient.Close()
	// A short sticky timeout: once this worker is gone, the next task goes to the new worker soon.
	old := worker.New(samplesClient, queue, worker.Options{StickyScheduleToStartTimeout: time.Second})
	registerLegacy(old)
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := samplesClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: queue}, "LegacyGrant", token)
	if err != nil {
		old.Stop()
		// Forget the workflow's state (the SDK's cache is per process): the new worker must replay the
		// history from the start, decoding the samples' payloads (input, activity input and result).
		worker.PurgeStickyWorkflowCache()
		t.Fatal(err)
	}
	waitForHistory(t, wfID, func(h rawHistory) bool {
		completed := false
		for _, e := range h.events {
			if e.GetActivityTaskCompletedEventAttributes() != nil {
				completed = true
			} else if completed && e.GetWorkflowTaskCompletedEventAttributes() != nil {
				return true // waiting for the signal, with the activity's result in history
			}
		}
		return false
	})
	old.Stop()
	// Forget the workflow's state (the SDK's cache is per process): the new worker must replay the
	// history from the start, decoding the samples' payloads (input, activity input and result).
	worker.PurgeStickyWorkflowCache()

	// After: the envelope codec with the samples' key imported as a legacy key.
	legacyFile := filepath.Join(t.TempDir(), "legacy-keys.json")
	doc, _ := json.Marshal(map[string]any{"format": keys.LegacyKeysFormat, "keys": []any{map[string]any{
		"id": legacyKeyID, "kind": "samples-aes-256-gcm", "state": "decrypt-only", "added": "2026-11-29T00:00:00.000Z",
		"material": base64.StdEncoding.EncodeToString([]byte(legacyKey)),
	}}})
	if err := os.WriteFile(legacyFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	legacy, err := keys.OpenLegacyKeyring(keys.LegacyKeyringOptions{Path: legacyFile, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	p := newParty(t, newKeyringFile(t), codec.Options{RequireEncryption: true, LegacyKeys: legacy}, nil)
	startWorker(t, p, queue, registerLegacy)
	if err := p.client.SignalWorkflow(ctx, wfID, "", "approve", "ops@corp.example"); err != nil {
		t.Fatal(err)
	}
	var result string
	if err := p.client.GetWorkflow(ctx, wfID, run.GetRunID()).Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if result != "credential for "+token+" approved by ops@corp.example" {
		t.Fatalf("result %q", result)
	}

	h := fetchHistory(t, plainClient(t), wfID)
	h.mustNotContain(t, "the history", token, "ops@corp.example")
	formats := map[string]string{}
	for _, f := range h.payloads() {
		format := "envelope"
		if f.meta("envelope-version") == "" {
			format = "samples:" + f.meta("encryption-key-id")
		}
		if f.meta("encoding") != "binary/encrypted" {
			format = "plaintext:" + f.meta("encoding")
		}
		formats[f.eventType] = format
	}
	want := map[string]string{
		"WORKFLOW_EXECUTION_STARTED":   "samples:" + legacyKeyID,
		"ACTIVITY_TASK_SCHEDULED":      "samples:" + legacyKeyID,
		"ACTIVITY_TASK_COMPLETED":      "samples:" + legacyKeyID,
		"WORKFLOW_EXECUTION_SIGNALED":  "envelope",
		"WORKFLOW_EXECUTION_COMPLETED": "envelope",
	}
	for event, format := range want {
		if formats[event] != format {
			t.Errorf("%s: %q, want %q (all: %v)", event, formats[event], format, formats)
		}
	}
	// Our codec opens every payload of that history, the old ones with the legacy key, which is what
	// opens them: the same codec without it (requiring encryption, as the worker does) refuses them.
	without, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{p.ring}, RequireEncryption: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range h.payloads() {
		if !strings.HasPrefix(f.meta("encoding"), "binary/encrypted") {
			continue
		}
		if _, err := p.codec.Decode([]*commonpb.Payload{f.payload}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := without.Decode([]*commonpb.Payload{f.payload}); (err == nil) != (f.meta("envelope-version") != "") {
			t.Errorf("%s without the legacy key: %v", f, err)
		}
	}
}
