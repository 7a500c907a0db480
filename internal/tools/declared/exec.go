package declared

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// defaultPATH is the PATH of exec tools when tsmcp itself has none.
const defaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultLANG is the LANG of exec tools when tsmcp itself has none.
const defaultLANG = "C.UTF-8"

// drainDelay bounds how long a run waits for its output pipes to close
// after its process group was killed (a process that left the group,
// e.g. with setsid, may hold them). Then the pipes are closed.
const drainDelay = 2 * time.Second

// envVar is one configured environment variable of an exec tool.
type envVar struct {
	name string
	t    *tmpl // may use {{env "NAME"}}, never params
}

// execTool is one compiled exec tool.
type execTool struct {
	p         *Provider
	name      string
	params    map[string]*param
	program   string  // Command[0], literal
	args      []*tmpl // Command[1:], one argv element each
	dir       string  // literal
	env       []envVar
	timeout   time.Duration
	maxOutput int
}

func (p *Provider) newExecTool(key string, t config.Tool) (tools.Tool, error) {
	e := t.Exec
	ekey := key + ".exec"
	if len(e.Command) == 0 || e.Command[0] == "" {
		return tools.Tool{}, fmt.Errorf("%s.command: must not be empty", ekey)
	}
	if strings.Contains(e.Command[0], "{{") {
		return tools.Tool{}, fmt.Errorf("%s.command[0]: the program must not be a template", ekey)
	}
	if strings.Contains(e.Dir, "{{") {
		return tools.Tool{}, fmt.Errorf("%s.dir: must not be a template", ekey)
	}
	params, err := compileParams(key+".params", t.Params, true)
	if err != nil {
		return tools.Tool{}, err
	}
	x := &execTool{
		p:         p,
		name:      t.Name,
		params:    params,
		program:   e.Command[0],
		dir:       e.Dir,
		timeout:   cmp.Or(e.Timeout, config.DefaultToolTimeout),
		maxOutput: int(cmp.Or(e.MaxOutput, config.DefaultMaxOutput)),
	}
	for j, src := range e.Command[1:] {
		// No env here: a secret in argv is visible to every user of
		// the machine (ps); secrets go in exec.env.
		tm, err := parseTemplate(fmt.Sprintf("%s.command[%d]", ekey, j+1), src, nil)
		if err != nil {
			return tools.Tool{}, err
		}
		if err := checkRefs(tm, params, fmt.Sprintf("%s.command[%d]", ekey, j+1)); err != nil {
			return tools.Tool{}, err
		}
		x.args = append(x.args, tm)
	}
	for _, name := range slices.Sorted(maps.Keys(e.Env)) {
		k := ekey + ".env." + name
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return tools.Tool{}, fmt.Errorf("%s: invalid variable name", k)
		}
		tm, err := parseTemplate(k, e.Env[name], envFunc(p.lookupEnv, nil))
		if err != nil {
			return tools.Tool{}, err
		}
		if len(tm.refs) > 0 {
			return tools.Tool{}, fmt.Errorf("%s: must not refer to params (callers never change the environment)", k)
		}
		x.env = append(x.env, envVar{name: name, t: tm})
	}
	schema, err := inputSchema(params)
	if err != nil {
		return tools.Tool{}, fmt.Errorf("%s.params: %v", key, err)
	}
	def := mcp.NewToolWithRawSchema(t.Name, t.Description, schema)
	def.Annotations = annotations(false, false)
	return tools.Tool{Tool: withConfigured(def, t.Annotations), Handler: x.handle}, nil
}

// checkRefs refuses templates that refer to params the tool lacks.
func checkRefs(t *tmpl, params map[string]*param, key string) error {
	for _, r := range t.refs {
		if _, ok := params[r]; !ok {
			return fmt.Errorf("%s: refers to {{.%s}}, which is not in the tool's params", key, r)
		}
	}
	return nil
}

// argv renders the command for validated values. Each element renders
// to exactly one argument. An element that refers only to absent
// optional params and renders empty is left out; any other element is
// kept, empty or not.
func (x *execTool) argv(vals map[string]value) ([]string, error) {
	data := make(map[string]string, len(x.params))
	for name := range x.params {
		data[name] = vals[name].text // "" when absent
	}
	argv := []string{x.program}
	for _, t := range x.args {
		s, err := t.render(data)
		if err != nil {
			return nil, err
		}
		if s == "" && len(t.refs) > 0 && !slices.ContainsFunc(t.refs, func(r string) bool { _, ok := vals[r]; return ok }) {
			continue
		}
		argv = append(argv, s)
	}
	return argv, nil
}

// environ returns the command's environment, sorted: the base variables
// tsmcp has, then the configured ones (which override them). It also
// returns the values read with {{env}}, for redaction.
func (x *execTool) environ() ([]string, redactor, error) {
	// The base: these variables from tsmcp's own environment (through
	// Options.LookupEnv), nothing else, so tsmcp's secrets (TS_AUTHKEY,
	// tokens for http tools) stay out of commands unless the config
	// passes them on explicitly.
	m := map[string]string{"PATH": defaultPATH, "LANG": defaultLANG}
	for _, name := range []string{"PATH", "HOME", "LANG", "TZ"} {
		if v, ok := x.p.lookupEnv(name); ok && v != "" {
			m[name] = v
		}
	}
	var secrets redactor
	for _, ev := range x.env {
		v, err := ev.t.render(map[string]string{})
		if err != nil {
			return nil, nil, err
		}
		m[ev.name] = v
		for _, n := range ev.t.envNames {
			if s, ok := x.p.lookupEnv(n); ok {
				secrets = secrets.add(s)
			}
		}
	}
	env := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		env = append(env, k+"="+m[k])
	}
	return env, secrets, nil
}

// lookPath finds program in the command's PATH (not tsmcp's). A program
// with a slash is used as is; relative PATH entries are ignored.
func lookPath(program string, env []string) (string, error) {
	if strings.Contains(program, "/") {
		return program, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		f := filepath.Join(dir, program)
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH", program)
}

func (x *execTool) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	vals, refused := x.p.values(ctx, x.name, x.params, req)
	if refused != nil {
		return refused, nil
	}
	argv, err := x.argv(vals)
	if err != nil {
		return x.p.failed(ctx, x.name, "template", renderError(err), "error", err.Error()), nil
	}
	env, secrets, err := x.environ()
	if err != nil {
		return x.p.failed(ctx, x.name, "template", renderError(err), "error", err.Error()), nil
	}
	path, err := lookPath(x.program, env)
	if err != nil {
		return x.p.failed(ctx, x.name, "start", "the command is not available on this host", "error", err.Error()), nil
	}
	run, end, ok := x.p.begin(ctx, x.timeout)
	if !ok {
		return refusedClosed(), nil
	}
	defer end()
	return x.run(run, path, argv, env, secrets), nil
}

// run runs the command and turns its outcome into a result.
func (x *execTool) run(ctx context.Context, path string, argv, env []string, secrets redactor) *mcp.CallToolResult {
	stdout, stderr := newCapBuffer(x.maxOutput), newCapBuffer(x.maxOutput)
	state, err := x.start(ctx, path, argv, env, stdout, stderr)
	if err != nil {
		return x.p.failed(ctx, x.name, "start", "the command could not be started", "error", err.Error())
	}
	if ctx.Err() != nil {
		return x.p.ended(ctx, x.name, x.timeout, "command")
	}
	if code := state.ExitCode(); code != 0 {
		msg := ""
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = fmt.Sprintf("the command was killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		} else {
			msg = fmt.Sprintf("the command exited with code %d", code)
		}
		switch {
		case stderr.total > 0:
			msg += "\n" + stderr.tailText("stderr")
		case stdout.total > 0:
			msg += "\n" + stdout.tailText("stdout")
		}
		return x.p.failed(ctx, x.name, "exit", secrets.apply(msg), "exit_code", code)
	}
	out := stdout.text("stdout")
	if stdout.total == 0 && stderr.total == 0 {
		out = "(no output)"
	}
	res := mcp.NewToolResultText(secrets.apply(out))
	if stderr.total > 0 {
		res.Content = append(res.Content, mcp.NewTextContent(secrets.apply("stderr:\n"+stderr.text("stderr"))))
	}
	return res
}

// start runs the command in its own process group, with stdout and
// stderr on pipes tsmcp reads to the end (into capped buffers, so the
// child never blocks on them). When ctx ends the whole group is killed;
// when the command exits, whatever it left in its group is killed too.
// The returned state is never nil when err is nil.
func (x *execTool) start(ctx context.Context, path string, argv, env []string, stdout, stderr *capBuffer) (*os.ProcessState, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	cmd.Dir = x.dir
	cmd.Stdout, cmd.Stderr = outW, errW // stdin: /dev/null
	setProcessGroup(cmd)
	cmd.WaitDelay = drainDelay
	err = cmd.Start()
	// The child has its copies; without closing ours the reads never end.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	done := make(chan struct{}, 2)
	for _, s := range []struct {
		r *os.File
		w *capBuffer
	}{{outR, stdout}, {errR, stderr}} {
		go func() {
			// capBuffer never fails, so this ends at EOF or when r is
			// closed below.
			_, _ = io.Copy(s.w, s.r)
			done <- struct{}{}
		}()
	}
	werr := cmd.Wait()
	// The leader is gone; its group (background children) goes too.
	_ = killGroup(cmd.Process.Pid)
	timer := time.NewTimer(drainDelay)
	defer timer.Stop()
	for n := 0; n < 2; {
		select {
		case <-done:
			n++
		case <-timer.C:
			// A process outside the group holds a pipe: stop reading.
			outR.Close()
			errR.Close()
		}
	}
	outR.Close()
	errR.Close()
	if cmd.ProcessState == nil {
		return nil, werr
	}
	return cmd.ProcessState, nil
}
