package testenv

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

// A missing server binary is a failure that says how to install it, never a skip.
func TestMissingBinariesNameTheSetupScript(t *testing.T) {
	t.Setenv("TEMPORAL_ENVELOPE_TEST_TEMPORAL_BIN", "/nonexistent/temporal")
	t.Setenv("TEMPORAL_ENVELOPE_TEST_MOTO_BIN", "/nonexistent/moto_server")
	if _, err := StartDevServer(); err == nil || !strings.Contains(err.Error(), "node scripts/setup-test-deps.mjs") {
		t.Fatalf("dev server: %v", err)
	}
	if _, err := StartMoto(); err == nil || !strings.Contains(err.Error(), "node scripts/setup-test-deps.mjs") {
		t.Fatalf("moto: %v", err)
	}
}

// The stream is SHA-256(seed ‖ decimal counter), consumed in order whatever the read sizes
// (test/support/deterministic-random.ts).
func TestDeterministicRandomIsTheCounterStream(t *testing.T) {
	b0, b1 := sha256.Sum256([]byte("seed0")), sha256.Sum256([]byte("seed1"))
	want := append(b0[:], b1[:]...)
	r := NewDeterministicRandom("seed")
	got := make([]byte, 0, 64)
	for _, n := range []int{5, 27, 1, 31} {
		p := make([]byte, n)
		if k, _ := r.Read(p); k != n {
			t.Fatal("short read")
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}
