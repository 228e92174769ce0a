package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The benchmark runs end to end and its implementations agree; it times nothing worth asserting.
func TestBenchRuns(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 KB", "1 MB", baseline, "envelope AES-256-GCM", "envelope XChaCha20-Poly1305", "ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
