package primitives

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"testing"
)

func TestEveryCodeHasARetryRule(t *testing.T) {
	if len(Codes) != 14 || len(retryable) != len(Codes) {
		t.Fatalf("expected 14 codes with a retry rule each, got %d codes and %d rules", len(Codes), len(retryable))
	}
	for _, c := range Codes {
		if _, ok := retryable[c]; !ok {
			t.Errorf("code %s has no retry rule", c)
		}
	}
	for _, c := range []Code{CodeKmsUnavailable, CodeKeyLimitExceeded, CodeStoreUnavailable} {
		if !c.Retryable() {
			t.Errorf("%s must be retryable", c)
		}
	}
}

// The codes are a contract between languages: this fails when primitives/errors.ts and this list drift.
func TestCodesMatchTheTypeScriptCodec(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	ts, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "primitives", "errors.ts"))
	if err != nil {
		t.Fatal(err)
	}
	union := regexp.MustCompile(`(?s)export type EnvelopeErrorCode =(.*?);`).FindSubmatch(ts)
	if union == nil {
		t.Fatal("EnvelopeErrorCode not found in primitives/errors.ts")
	}
	var tsCodes []Code
	for _, m := range regexp.MustCompile(`'([A-Z_]+)'`).FindAllSubmatch(union[1], -1) {
		tsCodes = append(tsCodes, Code(m[1]))
	}
	if !slices.Equal(tsCodes, Codes) {
		t.Fatalf("codes drifted:\n  TypeScript %v\n  Go         %v", tsCodes, Codes)
	}
	retryableTS := regexp.MustCompile(`readonly code = '([A-Z_]+)' as const;\s*override readonly retryable = true;`).FindAllSubmatch(ts, -1)
	var want []Code
	for _, m := range retryableTS {
		want = append(want, Code(m[1]))
	}
	var got []Code
	for _, c := range Codes {
		if c.Retryable() {
			got = append(got, c)
		}
	}
	if !slices.Equal(want, got) {
		t.Fatalf("retryable codes drifted: TypeScript %v, Go %v", want, got)
	}
}

func TestErrorsCarryCodeThroughWrapping(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("decoding input: %w", Wrapf(CodeKmsUnavailable, cause, "KMS Decrypt with %s failed", "alias/x"))
	if CodeOf(err) != CodeKmsUnavailable || !IsRetryable(err) {
		t.Fatalf("code lost through wrapping: %v", err)
	}
	if !errors.Is(err, cause) {
		t.Fatal("cause not reachable")
	}
	if got := Errorf(CodeScopeMismatch, "x").Error(); got != "SCOPE_MISMATCH: x" {
		t.Fatalf("message %q", got)
	}
	if CodeOf(errors.New("other")) != "" || IsRetryable(nil) {
		t.Fatal("foreign errors have no code")
	}
}
