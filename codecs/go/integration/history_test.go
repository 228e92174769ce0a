package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rawHistory is a workflow's history straight from the server, no data converter in between:
// what anyone with history access reads. bytes is every page re-serialized as protobuf.
type rawHistory struct {
	bytes  []byte
	events []*historypb.HistoryEvent
}

func fetchHistory(t *testing.T, c client.Client, workflowID string) rawHistory {
	t.Helper()
	var h rawHistory
	var token []byte
	for {
		res, err := c.WorkflowService().GetWorkflowExecutionHistory(context.Background(), &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace: "default", Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID}, NextPageToken: token,
		})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := proto.Marshal(res)
		h.bytes = append(h.bytes, b...)
		h.events = append(h.events, res.GetHistory().GetEvents()...)
		if token = res.GetNextPageToken(); len(token) == 0 {
			return h
		}
	}
}

func (h rawHistory) mustNotContain(t *testing.T, where string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(h.bytes, []byte(s)) {
			t.Errorf("%q in plaintext in %s", s, where)
		}
	}
}

// foundPayload is one Payload in a history, with the event type and field path it sits at.
type foundPayload struct {
	eventType string
	path      string
	payload   *commonpb.Payload
}

func (f foundPayload) meta(k string) string { return string(f.payload.GetMetadata()[k]) }

func (f foundPayload) String() string {
	return fmt.Sprintf("%s %s (%s)", f.eventType, f.path, f.meta("encoding"))
}

// payloads walks every message of every event by reflection and collects each
// temporal.api.common.v1.Payload, so a field added to the API later is covered too. Search
// attributes are skipped: the server indexes them, so they are plaintext by design.
func (h rawHistory) payloads() []foundPayload {
	var out []foundPayload
	for _, e := range h.events {
		eventType := strings.TrimPrefix(enumspb.EventType_name[int32(e.GetEventType())], "EVENT_TYPE_")
		walk(e.ProtoReflect(), "", func(path string, p *commonpb.Payload) {
			out = append(out, foundPayload{eventType: eventType, path: path, payload: p})
		})
	}
	return out
}

func walk(m protoreflect.Message, path string, visit func(string, *commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		visit(path, p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		if fd.Name() == "search_attributes" {
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), visit)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walk(mv.Message(), name+"."+k.String(), visit)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			walk(v.Message(), name, visit)
		}
		return true
	})
}
