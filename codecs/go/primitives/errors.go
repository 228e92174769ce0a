// Package primitives holds the bottom layer of the temporal-envelope Go codec: typed errors,
// scopes, length-prefixed bytes, the AEAD suites, the wire formats v1 and v2 and the branch-key
// derivation. It mirrors primitives/errors.ts, primitives/scope.ts, primitives/aead.ts,
// primitives/format.ts, format-v2.ts and branch-key.ts of the TypeScript codec; docs/wire-format.md
// is the specification both follow.
package primitives

import (
	"errors"
	"fmt"
)

// Code is a stable error code, the same in every language of the project.
type Code string

// The fourteen codes of primitives/errors.ts. Edges (HTTP status, exit code, failure type) map these
// and nothing else.
const (
	CodeUnknownKey         Code = "UNKNOWN_KEY"
	CodeTamperedCiphertext Code = "TAMPERED_CIPHERTEXT"
	CodeScopeMismatch      Code = "SCOPE_MISMATCH"
	CodeUnsupportedFormat  Code = "UNSUPPORTED_FORMAT"
	CodeMalformedPayload   Code = "MALFORMED_PAYLOAD"
	CodePlaintextRejected  Code = "PLAINTEXT_REJECTED"
	CodeKmsUnavailable     Code = "KMS_UNAVAILABLE"
	CodeKmsAccessDenied    Code = "KMS_ACCESS_DENIED"
	CodeKeyRetired         Code = "KEY_RETIRED"
	CodeKeyShredded        Code = "KEY_SHREDDED"
	CodeKeyLimitExceeded   Code = "KEY_LIMIT_EXCEEDED"
	CodeInvalidConfig      Code = "INVALID_CONFIG"
	CodeKeyringError       Code = "KEYRING_ERROR"
	CodeStoreUnavailable   Code = "STORE_UNAVAILABLE"
)

// retryable says, for every code, whether the same call may succeed later. One table over all
// codes, so a new code cannot be added without deciding this (TestEveryCodeHasARetryRule).
var retryable = map[Code]bool{
	CodeUnknownKey:         false,
	CodeTamperedCiphertext: false,
	CodeScopeMismatch:      false,
	CodeUnsupportedFormat:  false,
	CodeMalformedPayload:   false,
	CodePlaintextRejected:  false,
	CodeKmsUnavailable:     true,
	CodeKmsAccessDenied:    false,
	CodeKeyRetired:         false,
	CodeKeyShredded:        false,
	CodeKeyLimitExceeded:   true,
	CodeInvalidConfig:      false,
	CodeKeyringError:       false,
	CodeStoreUnavailable:   true,
}

// Codes lists every code, in the order of primitives/errors.ts.
var Codes = []Code{
	CodeUnknownKey, CodeTamperedCiphertext, CodeScopeMismatch, CodeUnsupportedFormat, CodeMalformedPayload,
	CodePlaintextRejected, CodeKmsUnavailable, CodeKmsAccessDenied, CodeKeyRetired, CodeKeyShredded,
	CodeKeyLimitExceeded, CodeInvalidConfig, CodeKeyringError, CodeStoreUnavailable,
}

// Retryable reports whether an error with this code may go away on its own (KMS outage,
// throttling, the shred store down): a workflow task failing with it should be retried, not given up on.
func (c Code) Retryable() bool { return retryable[c] }

// Error is every failure the codec and the key providers report. Messages name what was wrong
// and never carry plaintext or key bytes: only operations, key ids, scopes and sizes. That is what
// lets the failure converter keep them readable while it seals every other message.
type Error struct {
	Code    Code
	Message string
	// Cause is the underlying error (a KMS or network error, a decompression error), if any.
	Cause error
}

// Error formats as "CODE: message", so the code survives wherever only the text does
// (a workflow task failure in history, a log line).
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap gives errors.Is/As the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Retryable reports whether the same call may succeed later (KMS_UNAVAILABLE, KEY_LIMIT_EXCEEDED,
// STORE_UNAVAILABLE).
func (e *Error) Retryable() bool { return e.Code.Retryable() }

// Errorf makes an error with a code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrapf makes an error with a code, a cause and a formatted message.
func Wrapf(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// AsError finds the first *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns the code of the first *Error in err's chain, or "" if there is none.
func CodeOf(err error) Code {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return ""
}

// IsRetryable reports whether err carries a retryable code.
func IsRetryable(err error) bool {
	e, ok := AsError(err)
	return ok && e.Retryable()
}
