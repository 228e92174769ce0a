package keys_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// moto's KMS on loopback, started on first use and stopped after the package's tests.
var (
	motoOnce sync.Once
	moto     *testenv.Moto
	motoErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if moto != nil {
		moto.Stop()
	}
	os.Exit(code)
}

func startMoto(t *testing.T) *testenv.Moto {
	t.Helper()
	motoOnce.Do(func() { moto, motoErr = testenv.StartMoto() })
	if motoErr != nil {
		t.Fatalf("KMS endpoint: %v", motoErr)
	}
	return moto
}

const region = "us-east-1"

func kmsRing(t *testing.T, m *testenv.Moto, keyIDs ...string) *keys.AwsKmsKeyring {
	t.Helper()
	ks := make([]keys.AwsKmsKey, len(keyIDs))
	for i, id := range keyIDs {
		ks[i] = keys.AwsKmsKey{KeyID: id}
	}
	ring, err := keys.NewAwsKmsKeyring(keys.AwsKmsOptions{Keys: ks, Region: region, Endpoint: m.Endpoint, Credentials: m.Credentials(), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestAwsKmsWrapsWithTheScopeAsEncryptionContext(t *testing.T) {
	m := startMoto(t)
	ctx := context.Background()
	arn, err := m.CreateKey(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	ring := kmsRing(t, m, arn)
	scope := primitives.Scope{Namespace: "default", WorkflowID: "wf-kms"}
	dk, err := ring.GenerateDataKey(ctx, scope)
	if err != nil || len(dk.Plaintext) != 32 || dk.KeyID != arn {
		t.Fatalf("generate: %v", err)
	}
	back, err := ring.DecryptDataKey(ctx, arn, dk.Wrapped, scope)
	if err != nil || !bytes.Equal(back, dk.Plaintext) {
		t.Fatalf("decrypt: %v", err)
	}
	// Another scope is another EncryptionContext: KMS refuses, and that is tampering to us.
	for _, other := range []primitives.Scope{{Namespace: "default", WorkflowID: "wf-other"}, {Namespace: "default"}} {
		if _, err := ring.DecryptDataKey(ctx, arn, dk.Wrapped, other); primitives.CodeOf(err) != primitives.CodeTamperedCiphertext {
			t.Errorf("%v: %v", other, err)
		}
	}
	if _, err := ring.DecryptDataKey(ctx, "alias/not-configured", dk.Wrapped, scope); primitives.CodeOf(err) != primitives.CodeUnknownKey {
		t.Errorf("unconfigured key: %v", err)
	}
	if err := ring.CheckReady(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	// Through the cache, as a worker uses it: one GenerateDataKey for many payloads.
	var calls int
	var mu sync.Mutex
	cache, err := keys.NewDataKeyCache(ring, keys.CacheOptions{Observer: keys.Observer{OnKMSCall: func(op, provider, outcome string, _ float64) {
		mu.Lock()
		calls++
		mu.Unlock()
		if provider != "aws-kms" || outcome != "ok" {
			t.Errorf("%s %s %s", op, provider, outcome)
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := cache.LeaseForEncrypt(ctx, scope, primitives.AES256GCM, 10); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d KMS calls for 20 payloads of one workflow", calls)
	}
}

func TestAwsKmsUnreachableIsRetryable(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewAwsKmsKeyring(keys.AwsKmsOptions{
		Keys: []keys.AwsKmsKey{{KeyID: "alias/te-test"}}, Region: region, Endpoint: "http://127.0.0.1:" + itoa(port),
		Credentials: (&testenv.Moto{}).Credentials(), MaxAttempts: 1, RequestTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ring.GenerateDataKey(context.Background(), primitives.Scope{Namespace: "default"})
	if primitives.CodeOf(err) != primitives.CodeKmsUnavailable || !primitives.IsRetryable(err) || !strings.Contains(err.Error(), "alias/te-test") {
		t.Fatalf("got %v", err)
	}
}

func TestAwsKmsConfigValidation(t *testing.T) {
	bad := []keys.AwsKmsOptions{
		{},
		{Keys: []keys.AwsKmsKey{{KeyID: "not a key"}}, Region: region},
		{Keys: []keys.AwsKmsKey{{KeyID: "alias/a"}, {KeyID: "alias/b", State: keys.KekPrimary}}, Region: region},
	}
	for i, o := range bad {
		if _, err := keys.NewAwsKmsKeyring(o); primitives.CodeOf(err) != primitives.CodeInvalidConfig {
			t.Errorf("case %d: %v", i, err)
		}
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := keys.NewAwsKmsKeyring(keys.AwsKmsOptions{Keys: []keys.AwsKmsKey{{KeyID: "alias/a"}}}); primitives.CodeOf(err) != primitives.CodeInvalidConfig || !strings.Contains(err.Error(), "region") {
		t.Errorf("no region: %v", err)
	}
	ring, err := keys.NewAwsKmsKeyring(keys.AwsKmsOptions{Keys: []keys.AwsKmsKey{{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}})
	if err != nil || !ring.Handles("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab") {
		t.Errorf("region from the ARN: %v", err)
	}
}

// The key config file `keys init/rotate --provider aws-kms` writes, JSON or YAML, re-read on change.
func TestKmsKeyConfigFileIsReadAndWatched(t *testing.T) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "kms-keys.json")
	write := func(file, text string) {
		if err := os.WriteFile(file+".tmp", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write(jsonFile, `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/te-1","state":"primary","added":"2026-11-24T10:00:00.000Z"}]}`)
	ring, err := keys.AwsKmsKeyringFromConfigFile(jsonFile, keys.AwsKmsOptions{Region: region}, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	if ring.PrimaryKeyID() != "alias/te-1" {
		t.Fatal(ring.PrimaryKeyID())
	}
	write(jsonFile, `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/te-2","state":"primary","added":"2026-11-25T10:00:00.000Z"},{"keyId":"alias/te-1","state":"decrypt-only","added":"2026-11-24T10:00:00.000Z","demoted":"2026-11-25T10:00:00.000Z"}]}`)
	deadline := time.Now().Add(10 * time.Second)
	for ring.PrimaryKeyID() != "alias/te-2" {
		if time.Now().After(deadline) {
			t.Fatal("rotation not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ring.Handles("alias/te-1") {
		t.Fatal("the demoted key must still decrypt")
	}
	// An id the keyring does not know yet makes it look at the file now, not at the watcher's next
	// tick (an hour for this second keyring).
	slow, err := keys.AwsKmsKeyringFromConfigFile(jsonFile, keys.AwsKmsOptions{Region: region}, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	write(jsonFile, `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/te-3","state":"primary","added":"2026-11-26T10:00:00.000Z"},{"keyId":"alias/te-2","state":"decrypt-only","added":"2026-11-25T10:00:00.000Z","demoted":"2026-11-26T10:00:00.000Z"}]}`)
	if !slow.Handles("alias/te-3") || slow.PrimaryKeyID() != "alias/te-3" {
		t.Fatalf("a key rotated a moment ago: handles %v, primary %s", slow.Handles("alias/te-3"), slow.PrimaryKeyID())
	}
	if slow.Handles("alias/te-nowhere") {
		t.Fatal("an id in no version of the file")
	}

	yamlFile := filepath.Join(dir, "kms-keys.yaml")
	write(yamlFile, "format: temporal-envelope-kms-keys/v1\nkeys:\n  - keyId: alias/te-y\n    state: primary\n    added: 2026-11-24T10:00:00.000Z\n")
	if ks, err := keys.ReadKmsKeyConfig(yamlFile); err != nil || ks[0].KeyID != "alias/te-y" {
		t.Fatalf("yaml: %v %v", ks, err)
	}
	write(jsonFile, `{"format":"temporal-envelope-kms-keys/v1","keys":[{"keyId":"alias/x","state":"decrypt-only","added":"2026-11-24"}]}`)
	if _, err := keys.ReadKmsKeyConfig(jsonFile); primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "first key") {
		t.Fatalf("got %v", err)
	}
	if _, err := keys.ReadKmsKeyConfig(filepath.Join(dir, "missing.json")); primitives.CodeOf(err) != primitives.CodeKeyringError || !strings.Contains(err.Error(), "keys init --provider aws-kms") {
		t.Fatalf("got %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
