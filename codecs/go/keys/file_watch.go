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
		// A broken file is retried every tick; its warning is given once per distinct failure.
		last := ""
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				_, err := changed()
				switch {
				case err == nil:
					last = ""
				case err.Error() != last:
					last = err.Error()
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

// fileStamp is what tells one version of a file from the next. The mode is part of it because
// chmod changes no modification time: a keyring opened up to other users must be noticed at the
// next check (which refuses it), not at the next rotation.
type fileStamp struct {
	mod  time.Time
	size int64
	mode os.FileMode
}

func stampOf(file string) (fileStamp, error) {
	info, err := os.Stat(file)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: info.ModTime(), size: info.Size(), mode: info.Mode()}, nil
}

// fileVersion is the stamp of the key file version a keyring last loaded. Both keyrings (KEKs and
// legacy keys) reload through it: the stamp is taken before the read, so a write racing the read
// shows up as a change at the next check instead of being missed; and re-reading happens only
// when the stamp moved.
type fileVersion struct {
	mu    sync.Mutex
	stamp fileStamp
}

// reload stats file (a failure goes through statError, which names the file as its keyring does),
// runs load, and on success records the stamp.
func (v *fileVersion) reload(file string, statError func(error) error, load func() error) error {
	stamp, err := stampOf(file)
	if err != nil {
		return statError(err)
	}
	if err := load(); err != nil {
		return err
	}
	v.mu.Lock()
	v.stamp = stamp
	v.mu.Unlock()
	return nil
}

// reloadIfChanged runs reload only if the file's stamp differs from the last one loaded.
func (v *fileVersion) reloadIfChanged(file string, statError func(error) error, load func() error) (bool, error) {
	stamp, err := stampOf(file)
	if err != nil {
		return false, statError(err)
	}
	v.mu.Lock()
	same := stamp == v.stamp
	v.mu.Unlock()
	if same {
		return false, nil
	}
	return true, v.reload(file, statError, load)
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
