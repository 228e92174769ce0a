package codec

import (
	"runtime"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

func strictCodec(t *testing.T) *Codec {
	t.Helper()
	doc, err := keys.NewKeyringDocument()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.LocalKeyringFromDocument(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{KeyProviders: []keys.KeyProvider{ring}, RequireEncryption: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func plain(s string) *commonpb.Payload {
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"` + s + `"`)}
}

// RequireEncryption lets through exactly the payload objects the SignalInterceptor opened: the
// same bytes in any other object (what a plaintext signal from history is) stay refused.
func TestOpenedPayloadsPassRequireEncryptionByIdentityOnly(t *testing.T) {
	c := strictCodec(t)
	opened := plain("approved by dana")
	c.opened.add([]*commonpb.Payload{opened})

	out, err := c.Decode([]*commonpb.Payload{opened})
	if err != nil || out[0] != opened {
		t.Fatalf("the opened payload itself: %v %v", out, err)
	}
	lookalike := proto.Clone(opened).(*commonpb.Payload)
	if _, err := c.Decode([]*commonpb.Payload{lookalike}); primitives.CodeOf(err) != primitives.CodePlaintextRejected {
		t.Fatalf("an equal payload that was not opened here: want PLAINTEXT_REJECTED, got %v", err)
	}
	// Another codec instance never opened it.
	if _, err := strictCodec(t).Decode([]*commonpb.Payload{opened}); primitives.CodeOf(err) != primitives.CodePlaintextRejected {
		t.Fatalf("another codec: want PLAINTEXT_REJECTED, got %v", err)
	}
	runtime.KeepAlive(opened)
}

// Entries leave the set when their payload is garbage collected: the set only ever holds payloads
// still waiting in some workflow's signal channel.
func TestOpenedPayloadsAreForgottenWhenCollected(t *testing.T) {
	c := strictCodec(t)
	func() {
		batch := make([]*commonpb.Payload, 100)
		for i := range batch {
			batch[i] = plain("x")
		}
		c.opened.add(batch)
	}()
	if n := c.opened.len(); n != 100 {
		t.Fatalf("want 100 entries, got %d", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.opened.len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after their payloads became unreachable", c.opened.len())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
