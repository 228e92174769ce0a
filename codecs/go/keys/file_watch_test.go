package keys

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// A broken file is retried at every tick, but its warning is given once per distinct failure: a
// keyring left world-readable must not write the same line to the log every two seconds.
func TestAFailingWatchWarnsOncePerDistinctFailure(t *testing.T) {
	var mu sync.Mutex
	results := []error{errors.New("mode 644"), errors.New("mode 644"), errors.New("mode 644"), errors.New("not valid JSON"), errors.New("not valid JSON"), nil, errors.New("mode 644")}
	calls := 0
	var warned []string
	finished := make(chan struct{})
	w := watchFile(time.Millisecond, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case calls < len(results):
			calls++
			return true, results[calls-1]
		case calls == len(results):
			calls++
			close(finished)
		}
		return false, nil
	}, func(err error) {
		mu.Lock()
		warned = append(warned, err.Error())
		mu.Unlock()
	})
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stopped calling")
	}
	w.close()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"mode 644", "not valid JSON", "mode 644"}
	if len(warned) != len(want) {
		t.Fatalf("warnings %q, want %q", warned, want)
	}
	for i := range want {
		if warned[i] != want[i] {
			t.Fatalf("warnings %q, want %q", warned, want)
		}
	}
}
