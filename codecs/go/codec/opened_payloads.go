package codec

import (
	"runtime"
	"sync"
	"weak"

	commonpb "go.temporal.io/api/common/v1"
)

// openedPayloads remembers, by identity, the payloads the SignalInterceptor opened and handed to
// the SDK, so that decoding them again on receive passes RequireEncryption without a key. Identity
// is what makes this safe: a payload read from history is a new object, so a plaintext one sent by
// someone without a key can never be in the set, whatever its bytes say. Entries go when the
// payload is garbage collected (weak pointers, runtime.AddCleanup), so the set holds only
// payloads still waiting in a workflow's signal channel.
type openedPayloads struct {
	mu  sync.Mutex
	set map[weak.Pointer[commonpb.Payload]]struct{}
}

func (o *openedPayloads) add(payloads []*commonpb.Payload) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set == nil {
		o.set = make(map[weak.Pointer[commonpb.Payload]]struct{})
	}
	for _, p := range payloads {
		w := weak.Make(p)
		if _, ok := o.set[w]; ok {
			continue
		}
		o.set[w] = struct{}{}
		runtime.AddCleanup(p, o.forget, w)
	}
}

func (o *openedPayloads) forget(w weak.Pointer[commonpb.Payload]) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.set, w)
}

func (o *openedPayloads) has(p *commonpb.Payload) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.set[weak.Make(p)]
	return ok
}

func (o *openedPayloads) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.set)
}
