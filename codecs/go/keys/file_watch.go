package keys

import (
	"os"
	"sync"
	"time"
)

// DefaultWatchInterval is how often a keyring or key config file is polled for changes: a
// `keys rotate` reaches running workers within this time, without a restart.
const DefaultWatchInterval = 2 * time.Second

// fileWatch polls a file's modification time and calls reload when it changes. Polling rather than
// inotify: it works the same on every platform and on network and container volumes, and a rename
// over the file (how every writer of ours replaces it) is always seen.
type fileWatch struct {
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func watchFile(interval time.Duration, changed func() (bool, error), warn func(error)) *fileWatch {
	w := &fileWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if _, err := changed(); err != nil {
					warn(err)
				}
			}
		}
	}()
	return w
}

func (w *fileWatch) close() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// fileStamp is what tells one version of a file from the next.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(file string) (fileStamp, error) {
	info, err := os.Stat(file)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: info.ModTime(), size: info.Size()}, nil
}

// knownAfterRefresh is what a watched provider does with a key id it does not hold: look at its
// file now (refresh re-reads it if it changed) and ask again. The id may name a KEK that
// `keys rotate` wrote a moment ago: another process that read the file first already seals with it,
// and the watcher would only see it at its next tick. Without this, such a payload fails with
// UNKNOWN_KEY, and a signal carrying it is dropped by the Go SDK. One stat per unknown id, and only
// on a data-key cache miss (the cache is asked first).
func knownAfterRefresh(refresh func() (bool, error), known func() bool) bool {
	changed, err := refresh()
	return err == nil && changed && known()
}
