package primitives

import (
	"strings"
	"testing"
)

func TestNewScopeValidates(t *testing.T) {
	cases := []struct {
		name, ns, wf string
		ok           bool
	}{
		{"namespace only", "default", "", true},
		{"workflow", "default", "wf-1", true},
		{"leading BOM kept", "default", "\ufeffwf", true},
		{"empty namespace", "", "wf", false},
		{"namespace too long", strings.Repeat("n", 1025), "", false},
		{"workflow id at the limit", "default", strings.Repeat("w", 1024), true},
		{"workflow id too long", "default", strings.Repeat("w", 1025), false},
		{"workflow id multibyte over the limit", "default", strings.Repeat("é", 513), false},
		{"lone surrogate (WTF-8)", "default", "wf-\xed\xa0\x80", false},
		{"invalid UTF-8", "default", "wf-\xff", false},
		{"invalid namespace", "ns\xc3", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewScope(c.ns, c.wf)
			if c.ok {
				if err != nil || s.Namespace != c.ns || s.WorkflowID != c.wf {
					t.Fatalf("got %+v, %v", s, err)
				}
				return
			}
			if CodeOf(err) != CodeMalformedPayload {
				t.Fatalf("expected MALFORMED_PAYLOAD, got %v", err)
			}
		})
	}
}

func TestScopeKeysDoNotCollide(t *testing.T) {
	a := Scope{Namespace: "a|1:b", WorkflowID: ""}
	b := Scope{Namespace: "a", WorkflowID: "b"}
	c := Scope{Namespace: "a"}
	if a.Key() == b.Key() || b.Key() == c.Key() || a.Key() == c.Key() {
		t.Fatalf("keys collide: %q %q %q", a.Key(), b.Key(), c.Key())
	}
}

func TestCheckScopeRules(t *testing.T) {
	on := ScopeRules{ScheduleRuns: true}
	wf := func(ns, id string) Scope { return Scope{Namespace: ns, WorkflowID: id} }
	cases := []struct {
		name             string
		sealed, expected Scope
		rules            ScopeRules
		ok               bool
	}{
		{"1. other namespace", wf("a", "x"), wf("b", "x"), on, false},
		{"1. other namespace, namespace-only context", wf("a", "x"), wf("b", ""), on, false},
		{"2. namespace-only context accepts a workflow payload", wf("a", "x"), wf("a", ""), on, true},
		{"2. namespace-only context accepts a namespace payload", wf("a", ""), wf("a", ""), on, true},
		{"3. same workflow", wf("a", "x"), wf("a", "x"), on, true},
		{"3. other workflow", wf("a", "x"), wf("a", "y"), on, false},
		{"3. ids compared byte for byte (BOM)", wf("a", "x"), wf("a", "\ufeffx"), on, false},
		{"3. schedule run", wf("a", "nightly"), wf("a", "nightly-2026-11-25T15:14:31Z"), on, true},
		{"3. schedule run, clause off", wf("a", "nightly"), wf("a", "nightly-2026-11-25T15:14:31Z"), ScopeRules{}, false},
		{"3. not a calendar date", wf("a", "nightly"), wf("a", "nightly-2026-02-30T15:14:31Z"), on, false},
		{"3. hour 24", wf("a", "nightly"), wf("a", "nightly-2026-11-25T24:00:00Z"), on, false},
		{"3. month 13, hour 99", wf("a", "S"), wf("a", "S-2026-13-45T99:99:99Z"), on, false},
		{"3. leap second", wf("a", "nightly"), wf("a", "nightly-2026-12-31T23:59:60Z"), on, false},
		{"3. year 0000", wf("a", "nightly"), wf("a", "nightly-0000-01-01T00:00:00Z"), on, false},
		{"3. 29 February of a leap year", wf("a", "nightly"), wf("a", "nightly-2028-02-29T00:00:00Z"), on, true},
		{"3. 29 February of 2100", wf("a", "nightly"), wf("a", "nightly-2100-02-29T00:00:00Z"), on, false},
		{"3. one-digit hour", wf("a", "nightly"), wf("a", "nightly-2026-11-25T5:14:31Z"), on, false},
		{"3. non-ASCII digits", wf("a", "nightly"), wf("a", "nightly-２０２６-11-25T15:14:31Z"), on, false},
		{"3. schedule run of an id that ends in a time", wf("a", "n-2026-11-25T15:14:31Z"), wf("a", "n-2026-11-25T15:14:31Z-2026-11-29T18:27:31Z"), on, true},
		{"3. a run of a run is not a run of the action", wf("a", "n"), wf("a", "n-2026-11-25T15:14:31Z-2026-11-25T15:14:32Z"), on, false},
		{"3. ids compared byte for byte (NUL)", wf("a", "x"), wf("a", "x\x00"), on, false},
		{"3. fractional seconds", wf("a", "nightly"), wf("a", "nightly-2026-11-25T15:14:31.5Z"), on, false},
		{"3. offset instead of Z", wf("a", "nightly"), wf("a", "nightly-2026-11-25T15:14:31+00:00"), on, false},
		{"3. lowercase z", wf("a", "nightly"), wf("a", "nightly-2026-11-25T15:14:31z"), on, false},
		{"3. no dash", wf("a", "nightly"), wf("a", "nightly2026-11-25T15:14:31Z"), on, false},
		{"3. the reverse direction is not a run", wf("a", "nightly-2026-11-25T15:14:31Z"), wf("a", "nightly"), on, false},
		{"3. a prefix of the action id", wf("a", "night"), wf("a", "nightly-2026-11-25T15:14:31Z"), on, false},
		{"4. namespace payload in a workflow, default", wf("a", ""), wf("a", "x"), on, false},
		{"4. namespace payload in a workflow, accepted", wf("a", ""), wf("a", "x"), ScopeRules{AcceptNamespaceScoped: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckScope(c.sealed, c.expected, c.rules)
			if c.ok && err != nil {
				t.Fatalf("expected accepted, got %v", err)
			}
			if !c.ok && CodeOf(err) != CodeScopeMismatch {
				t.Fatalf("expected SCOPE_MISMATCH, got %v", err)
			}
		})
	}
}

func TestEncryptionContext(t *testing.T) {
	if got := (Scope{Namespace: "n", WorkflowID: "w"}).EncryptionContext(); len(got) != 2 || got["temporal-namespace"] != "n" || got["temporal-workflow-id"] != "w" {
		t.Fatalf("got %v", got)
	}
	if got := (Scope{Namespace: "n"}).EncryptionContext(); len(got) != 1 {
		t.Fatalf("namespace scope must not name a workflow: %v", got)
	}
}
