package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cdpBrowser is headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: commands on its fd 3, answers and events
// on its fd 4, each message JSON ended by a NUL byte): no port, no
// WebSocket library.
type cdpBrowser struct {
	cmd    *exec.Cmd
	in     *os.File // commands to the browser
	nextID int      // only the test goroutine sends

	mu      sync.Mutex // guards the fields below
	waiting map[int]chan cdpAnswer
	readErr error // why the reader stopped, once it has

	readDone chan struct{} // closed when the reader has stopped
}

type cdpAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// startCDPBrowser starts chromium (headless, no sandbox, GPU or
// background networking, a fresh profile) on url, with extra flags. It
// is closed, and waited for, when the test ends.
func startCDPBrowser(t *testing.T, chromium, url string, extra ...string) *cdpBrowser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &cdpBrowser{in: cmdW, waiting: map[int]chan cdpAnswer{}, readDone: make(chan struct{})}
	b.cmd = exec.Command(chromium, append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir=" + t.TempDir(), "--window-size=900,900",
		// A sandboxed iframe (the Apps view) in its own process, as a
		// target of its own: the same in every Chromium build.
		"--enable-features=IsolateSandboxedIframes",
		"--remote-debugging-pipe"}, append(extra, url)...)...)
	b.cmd.ExtraFiles = []*os.File{cmdR, outW} // fds 3 and 4
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	cmdR.Close()
	outW.Close()
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	go b.read(outR)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = b.call(ctx, "", "Browser.close", nil)
		b.in.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		// Whatever the browser left in its group (renderers, zygotes).
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		<-b.readDone
	})
	return b
}

// read hands each answer to its caller; events are dropped.
func (b *cdpBrowser) read(out *os.File) {
	defer close(b.readDone)
	defer out.Close()
	r := bufio.NewReader(out)
	for {
		msg, err := r.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID *int `json:"id"`
			cdpAnswer
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == nil {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[*m.ID]
		delete(b.waiting, *m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpAnswer
		}
	}
}

// call sends method with params (to the attached target session, or to
// the browser when session is "") and returns its result.
func (b *cdpBrowser) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	b.nextID++
	id := b.nextID
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	ch := make(chan cdpAnswer, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: the browser's pipe is closed: %w", method, b.readErr)
	}
	b.waiting[id] = ch
	b.mu.Unlock()
	if _, err := b.in.Write(append(raw, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: the browser's pipe closed", method)
		}
		if a.Error != nil {
			return nil, fmt.Errorf("%s: %d %s", method, a.Error.Code, a.Error.Message)
		}
		return a.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// cdpTarget is one entry of Target.getTargets.
type cdpTarget struct {
	TargetID string `json:"targetId"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	ParentID string `json:"parentId"`
}

// attach waits for a target that match accepts and attaches to it,
// returning the session to send its commands on.
func (b *cdpBrowser) attach(ctx context.Context, match func(cdpTarget) bool) (string, error) {
	for {
		raw, err := b.call(ctx, "", "Target.getTargets", nil)
		if err != nil {
			return "", err
		}
		var ts struct {
			TargetInfos []cdpTarget `json:"targetInfos"`
		}
		if err := json.Unmarshal(raw, &ts); err != nil {
			return "", err
		}
		for _, ti := range ts.TargetInfos {
			if !match(ti) {
				continue
			}
			raw, err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": ti.TargetID, "flatten": true})
			if err != nil {
				return "", err
			}
			var a struct {
				SessionID string `json:"sessionId"`
			}
			return a.SessionID, json.Unmarshal(raw, &a)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no such target among %+v: %w", ts.TargetInfos, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// eval evaluates expression in the session's page (awaiting a promise)
// and decodes its JSON value into v.
func (b *cdpBrowser) eval(ctx context.Context, session, expression string, v any) error {
	raw, err := b.call(ctx, session, "Runtime.evaluate", map[string]any{
		"expression": expression, "returnByValue": true, "awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return errors.New("evaluating " + expression + ": " + r.ExceptionDetails.Text)
	}
	if len(r.Result.Value) == 0 {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(r.Result.Value, v)
}

// poll evaluates expression every 50 ms until it yields a value ok
// accepts (decoded into v), or ctx ends.
func (b *cdpBrowser) poll(ctx context.Context, session, expression string, v any, ok func() bool) error {
	for {
		if err := b.eval(ctx, session, expression, v); err != nil {
			return err
		}
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", expression, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
