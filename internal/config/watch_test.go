package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type reload struct {
	cfg *Config
	err error
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tsmcp.yaml")
	write := func(content string) {
		t.Helper()
		// Write beside the file and rename over it, as editors and
		// Kubernetes do.
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	rules := func(tool string) string {
		return "acl:\n  rules:\n    - src: [\"*\"]\n      tools: [" + tool + "]\n"
	}
	write(rules("whoami"))

	ctx, cancel := context.WithCancel(context.Background())
	reloads := make(chan reload, 10)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, WatchOptions{
			Load:     LoadOptions{File: file},
			Debounce: 20 * time.Millisecond,
			OnReload: func(c *Config, err error) { reloads <- reload{c, err} },
		})
	}()
	next := func() reload {
		t.Helper()
		select {
		case r := <-reloads:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no reload reported")
		}
		return reload{}
	}
	// The watcher is running once a change is seen; keep writing the
	// first change until then (the goroutine may not have started).
	waitFirst := func(content string) reload {
		t.Helper()
		for i := range 100 {
			// Differing bytes each time: the watcher may have read
			// an earlier write as its starting point.
			write(content + strings.Repeat("#\n", i))
			select {
			case r := <-reloads:
				return r
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatal("no reload reported")
		return reload{}
	}

	for _, tt := range []struct {
		name    string
		content string
		wantErr string // substring; empty means a valid config
		want    string // the first rule's first tool
	}{
		{name: "valid change", content: rules("disk_usage"), want: "disk_usage"},
		{name: "invalid yaml", content: "acl: [", wantErr: "tsmcp.yaml"},
		{name: "invalid policy", content: "acl:\n  rules:\n    - src: [group:nope]\n      tools: [x]\n", wantErr: "acl.rules[0].src[0]"},
		{name: "unknown key", content: "acl:\n  rulez: []\n", wantErr: "acl.rulez: unknown key"},
		{name: "valid again", content: rules("whoami"), want: "whoami"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r reload
			if tt.name == "valid change" {
				r = waitFirst(tt.content)
			} else {
				write(tt.content)
				r = next()
			}
			if tt.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Fatalf("reload error = %v, want one containing %q", r.err, tt.wantErr)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("reload error = %v", r.err)
			}
			if got := r.cfg.ACL.Rules[0].Tools[0]; got != tt.want {
				t.Fatalf("reloaded rule tool = %q, want %q", got, tt.want)
			}
		})
	}

	// Rewriting the same bytes reports nothing; a real change after it
	// is the next report.
	write(rules("whoami"))
	write(rules("last"))
	if r := next(); r.err != nil || r.cfg.ACL.Rules[0].Tools[0] != "last" {
		t.Fatalf("after an unchanged write, got %+v, want the change to \"last\"", r)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}

func TestWatchRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts WatchOptions
		want string
	}{
		{name: "no file", opts: WatchOptions{OnReload: func(*Config, error) {}}, want: "no file"},
		{name: "no callback", opts: WatchOptions{Load: LoadOptions{File: "x.yaml"}}, want: "no OnReload"},
		{name: "missing directory", opts: WatchOptions{Load: LoadOptions{File: "/nonexistent/dir/x.yaml"}, OnReload: func(*Config, error) {}}, want: "/nonexistent/dir"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Watch(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Watch = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
