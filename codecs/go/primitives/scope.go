package primitives

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxScopeFieldBytes bounds a namespace or workflow id, in UTF-8 bytes.
const MaxScopeFieldBytes = 1024

// Scope is what a payload is sealed to: always a namespace, and a workflow id when the SDK told the
// codec which workflow the payload belongs to. It picks the data key and is bound into the AEAD's
// additional data, so a payload cut from one workflow fails to open in another.
type Scope struct {
	Namespace string
	// WorkflowID is empty for namespace-scoped payloads (e.g. the Temporal UI's /encode, which
	// knows only the namespace). An empty id is never valid, so empty means absent.
	WorkflowID string
}

// NewScope validates and returns a scope. Both fields are compared byte for byte as UTF-8
// elsewhere, so both must be valid UTF-8 (Go strings may hold anything; a JavaScript string with a
// lone surrogate arrives here as invalid UTF-8), non-empty and at most 1024 bytes. A leading U+FEFF
// is an ordinary character and kept.
func NewScope(namespace, workflowID string) (Scope, error) {
	if err := checkScopeField("namespace", namespace); err != nil {
		return Scope{}, err
	}
	if workflowID != "" {
		if err := checkScopeField("workflowId", workflowID); err != nil {
			return Scope{}, err
		}
	}
	return Scope{Namespace: namespace, WorkflowID: workflowID}, nil
}

func checkScopeField(name, value string) error {
	if value == "" {
		return Errorf(CodeMalformedPayload, "scope %q expected a non-empty string", name)
	}
	if len(value) > MaxScopeFieldBytes {
		return Errorf(CodeMalformedPayload, "scope %q expected at most %d bytes, got %d", name, MaxScopeFieldBytes, len(value))
	}
	if !utf8.ValidString(value) {
		return Errorf(CodeMalformedPayload, "scope %q is not valid Unicode (invalid UTF-8 or a lone surrogate)", name)
	}
	return nil
}

// HasWorkflow reports whether the scope names a workflow.
func (s Scope) HasWorkflow() bool { return s.WorkflowID != "" }

// Key is a string for maps: both fields length-prefixed so no two scopes collide.
func (s Scope) Key() string {
	k := strconv.Itoa(len(s.Namespace)) + ":" + s.Namespace + "|"
	if !s.HasWorkflow() {
		return k + "-"
	}
	return k + strconv.Itoa(len(s.WorkflowID)) + ":" + s.WorkflowID
}

// Describe names the scope for messages ("workflow \"x\"" or "namespace \"y\"").
func (s Scope) Describe() string {
	if s.HasWorkflow() {
		return "workflow " + strconv.Quote(s.WorkflowID)
	}
	return "namespace " + strconv.Quote(s.Namespace)
}

// EncryptionContext is the scope as an AWS KMS EncryptionContext; the TypeScript and Python
// codecs use the same two keys, so a data key wrapped by one unwraps in the others.
func (s Scope) EncryptionContext() map[string]string {
	ctx := map[string]string{"temporal-namespace": s.Namespace}
	if s.HasWorkflow() {
		ctx["temporal-workflow-id"] = s.WorkflowID
	}
	return ctx
}

// ScopeRules are the decoder's options for the scope check (the project's decided rules).
type ScopeRules struct {
	// AcceptNamespaceScoped accepts a payload sealed without a workflow id while decoding in a
	// workflow context. Off by default: such a payload could have been sealed by anyone allowed to
	// /encode in the namespace.
	AcceptNamespaceScoped bool
	// ScheduleRuns accepts, in workflow W, a payload sealed for workflow S when W is a run a
	// Temporal schedule started from an action with id S: W == S + "-" + YYYY-MM-DDTHH:MM:SSZ.
	ScheduleRuns bool
}

// CheckScope applies the scope rules to a payload sealed for `sealed`, decoded in a context that
// expects `expected` (a namespace, and a workflow id unless the context is namespace-only).
//
//  1. another namespace: SCOPE_MISMATCH
//  2. a namespace-only context: accepted
//  3. a workflow-scoped payload: accepted for the same workflow id, or for a schedule run of it
//     (unless ScheduleRuns is off); otherwise SCOPE_MISMATCH
//  4. a namespace-scoped payload: SCOPE_MISMATCH unless AcceptNamespaceScoped
func CheckScope(sealed, expected Scope, rules ScopeRules) error {
	if sealed.Namespace != expected.Namespace {
		return Errorf(CodeScopeMismatch, "payload sealed for namespace %q cannot be decoded in namespace %q", sealed.Namespace, expected.Namespace)
	}
	if !expected.HasWorkflow() {
		return nil
	}
	if !sealed.HasWorkflow() {
		if rules.AcceptNamespaceScoped {
			return nil
		}
		return Errorf(CodeScopeMismatch, "namespace-scoped payload rejected in workflow %q (acceptNamespaceScoped is off)", expected.WorkflowID)
	}
	if sealed.WorkflowID == expected.WorkflowID {
		return nil
	}
	if rules.ScheduleRuns && IsScheduleRunOf(expected.WorkflowID, sealed.WorkflowID) {
		return nil
	}
	return Errorf(CodeScopeMismatch, "payload sealed for workflow %q cannot be decoded in workflow %q", sealed.WorkflowID, expected.WorkflowID)
}

const scheduleTimeLayout = "2006-01-02T15:04:05Z"

// IsScheduleRunOf reports whether run is the id the Temporal server gives a run a schedule starts
// from an action with workflow id action: action + "-" + an RFC 3339 UTC time in whole seconds
// (exactly YYYY-MM-DDTHH:MM:SSZ) that is a real calendar time, year 0001 to 9999 (the TypeScript
// and Python codecs' range: Python's datetime has no year 0).
func IsScheduleRunOf(run, action string) bool {
	if len(run) != len(action)+1+len(scheduleTimeLayout) || run[:len(action)] != action || run[len(action)] != '-' {
		return false
	}
	stamp := run[len(action)+1:]
	t, err := time.Parse(scheduleTimeLayout, stamp)
	// Formatting back rejects anything Parse tolerates but the server never writes.
	return err == nil && t.Year() >= 1 && t.Format(scheduleTimeLayout) == stamp
}
