package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultWatchDebounce is how long Watch waits after the last change event
// before it reloads: editors and Kubernetes write a file in several steps.
const DefaultWatchDebounce = 250 * time.Millisecond

// WatchOptions configures Watch.
type WatchOptions struct {
	// Load are the options the configuration was first loaded with; each
	// reload uses them again, so flags and environment keep their
	// precedence. Load.File must be set.
	Load LoadOptions
	// Debounce is the quiet time after the last change before a reload.
	// Zero means DefaultWatchDebounce.
	Debounce time.Duration
	// OnReload receives every reload: the new, validated configuration,
	// or the error that kept it from loading (the caller keeps its old
	// configuration then). It is called from Watch's goroutine, one call
	// at a time. Nil is invalid.
	OnReload func(*Config, error)
}

// Watch reloads the configuration file whenever it changes, until ctx is
// done, and reports each reload to opts.OnReload. It returns nil when ctx
// ends, or an error if the file cannot be watched at all.
//
// It watches the file's directory rather than the file, so a file replaced
// by rename (as editors save, and as Kubernetes swaps a mounted ConfigMap's
// "..data" symlink) keeps being watched, and a file that disappears for a
// moment is picked up again when it returns. A change that leaves the
// file's contents byte-for-byte the same is not reported.
//
// Unlike viper's WatchConfig, every reload builds a fresh Config with Load
// (no shared state is mutated) and failed reloads are reported, not
// applied.
func Watch(ctx context.Context, opts WatchOptions) error {
	if opts.Load.File == "" {
		return errors.New("config watch: no file to watch")
	}
	if opts.OnReload == nil {
		return errors.New("config watch: no OnReload")
	}
	debounce := opts.Debounce
	if debounce <= 0 {
		debounce = DefaultWatchDebounce
	}
	file, err := filepath.Abs(opts.Load.File)
	if err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(file)); err != nil {
		return fmt.Errorf("config watch %s: %w", filepath.Dir(file), err)
	}

	last, _ := os.ReadFile(file) // a missing file reads as empty: any content is a change
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			// Any event in the directory may be the file changing
			// (Kubernetes changes it through a symlink named
			// differently); the content comparison below filters
			// the noise.
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			opts.OnReload(nil, fmt.Errorf("watching %s: %w", file, err))
		case <-timer.C:
			data, err := os.ReadFile(file)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					// Mid-replace, or deleted: wait for it to
					// come back rather than report a transient.
					continue
				}
				opts.OnReload(nil, err)
				continue
			}
			if string(data) == string(last) {
				continue
			}
			last = data
			opts.OnReload(Load(opts.Load))
		}
	}
}
