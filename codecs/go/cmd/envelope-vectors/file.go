package main

import (
	"encoding/base64"
	"encoding/json"
	"sort"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// The cross-language vector file, temporal-envelope/cross-v1 (test/cross-language/README.md).
const crossFormat = "temporal-envelope/cross-v1"

type vectorFile struct {
	Format    string `json:"format"`
	Generator string `json:"generator"`
	// Hierarchy is "branch" for a file sealed in format v2 (--hierarchy branch); absent: format v1.
	Hierarchy string          `json:"hierarchy,omitempty"`
	Note      string          `json:"note"`
	Keyring   json.RawMessage `json:"keyring"`
	KMS       *kmsInfo        `json:"kms,omitempty"`
	Valid     []validVector   `json:"valid"`
	Invalid   []invalidVector `json:"invalid"`
}

type kmsInfo struct {
	KeyID  string `json:"keyId"`
	Region string `json:"region"`
}

type openIn struct {
	Namespace  string  `json:"namespace"`
	WorkflowID *string `json:"workflowId"`
}

// decodeOptions are the decoder's scope options for one vector; nil fields: the defaults
// (namespace-scoped payloads refused in a workflow, schedule runs accepted).
type decodeOptions struct {
	AcceptNamespaceScoped *bool `json:"acceptNamespaceScoped,omitempty"`
	ScheduleRuns          *bool `json:"scheduleRuns,omitempty"`
}

type validVector struct {
	Name        string         `json:"name"`
	Provider    string         `json:"provider"`
	Algorithm   string         `json:"algorithm"`
	Compression any            `json:"compression"` // false or "deflate"
	Namespace   string         `json:"namespace"`
	WorkflowID  *string        `json:"workflowId"`
	Input       payloadJSON    `json:"input"`
	Sealed      payloadJSON    `json:"sealed"`
	OpenIn      *openIn        `json:"openIn,omitempty"`
	Options     *decodeOptions `json:"options,omitempty"`
}

type invalidVector struct {
	Name     string         `json:"name"`
	Code     string         `json:"code"`
	Provider string         `json:"provider"`
	Sealed   payloadJSON    `json:"sealed"`
	OpenIn   *openIn        `json:"openIn,omitempty"`
	Options  *decodeOptions `json:"options,omitempty"`
}

// payloadJSON is a Payload in proto3 JSON: metadata values and data as standard base64. Written by
// hand, not with protojson.Marshal, whose output is deliberately unstable; read with protojson,
// which accepts every spelling proto3 JSON allows.
type payloadJSON struct {
	Metadata map[string]string `json:"metadata,omitempty"`
	Data     string            `json:"data,omitempty"`
}

func toJSON(p *commonpb.Payload) payloadJSON {
	out := payloadJSON{Data: base64.StdEncoding.EncodeToString(p.GetData())}
	if len(p.GetMetadata()) > 0 {
		out.Metadata = map[string]string{}
		keys := make([]string, 0, len(p.GetMetadata()))
		for k := range p.GetMetadata() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out.Metadata[k] = base64.StdEncoding.EncodeToString(p.GetMetadata()[k])
		}
	}
	return out
}

func fromJSON(j payloadJSON) (*commonpb.Payload, error) {
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	p := &commonpb.Payload{}
	return p, protojson.Unmarshal(raw, p)
}

func strPtr(s string) *string { return &s }

func boolPtr(b bool) *bool { return &b }
