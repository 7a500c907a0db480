package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/upstream"
)

// fallbackPath is the PATH assumed when tsmcp's environment has none (as
// the exec tools and upstreams do).
const fallbackPath = "/usr/local/bin:/usr/bin:/bin"

// checkRuntime checks the facts of this machine or image that the config
// depends on, before the node joins the tailnet: every package upstream's
// package is baked in, and every program that an exec tool or a stdio
// upstream starts exists (in PATH, or at its path), with the interpreter
// its #! line names. Each problem is one "key: problem" line.
//
// These are errors, not warnings, in both `check` and `serve`: an image is
// immutable, so a program missing at start is missing at every call, and
// a node that joined anyway would offer tools that can only fail (the
// silent failure issue 16 is about). Failing before the join puts the
// reason in the task's or pod's log, and a rolling update stops at the
// first new replica instead of replacing working ones.
func checkRuntime(cfg *config.Config, lookupEnv func(string) (string, bool)) error {
	var errs []error
	procPath := fallbackPath
	if v, ok := lookupEnv("PATH"); ok && v != "" {
		procPath = v
	}
	for i, t := range cfg.Tools {
		if t.Exec == nil || len(t.Exec.Command) == 0 {
			continue
		}
		path := procPath
		if v, ok := t.Exec.Env["PATH"]; ok && !strings.Contains(v, "{{") {
			path = v
		}
		if err := checkProgram(t.Exec.Command[0], path); err != nil {
			errs = append(errs, fmt.Errorf("tools[%d].exec.command[0] (tool %s): %w", i, t.Name, err))
		}
	}
	for i, u := range cfg.Upstreams {
		key := fmt.Sprintf("upstreams[%d].command[0] (upstream %s)", i, u.Name)
		if u.Package != "" {
			key = fmt.Sprintf("upstreams[%d].package (upstream %s)", i, u.Name)
			r, err := upstream.ResolvePackage(u, lookupEnv)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			u = r
		}
		if len(u.Command) == 0 {
			continue
		}
		// Children are started with tsmcp's own PATH (exec.Command).
		if err := checkProgram(u.Command[0], procPath); err != nil {
			if u.Package != "" {
				err = fmt.Errorf("%w (package %s needs it: use the runtime image)", err, u.Package)
			}
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// checkProgram finds program (in path when it has no slash) and, for a
// script, the interpreter of its #! line (for "#!/usr/bin/env name", env
// and then name in path).
func checkProgram(program, path string) error {
	file, err := findProgram(program, path)
	if err != nil {
		return err
	}
	interp, arg, err := shebang(file)
	if err != nil || interp == "" {
		return err
	}
	if _, err := findProgram(interp, ""); err != nil {
		return fmt.Errorf("%s: its #! interpreter %w", file, err)
	}
	if filepath.Base(interp) == "env" && arg != "" && !strings.HasPrefix(arg, "-") {
		if _, err := findProgram(arg, path); err != nil {
			return fmt.Errorf("%s: its #!%s %s: %w", file, interp, arg, err)
		}
	}
	return nil
}

// findProgram returns program's file: itself when it has a slash, else
// the first executable regular file of that name in path's absolute
// directories.
func findProgram(program, path string) (string, error) {
	if strings.Contains(program, "/") {
		fi, err := os.Stat(program)
		switch {
		case err != nil:
			return "", fmt.Errorf("%q does not exist", program)
		case !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0:
			return "", fmt.Errorf("%q is not an executable file", program)
		}
		return program, nil
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
	return "", fmt.Errorf("%q not found in PATH (%s)", program, path)
}

// shebang returns the interpreter and its first argument from file's #!
// line; empty when file is not a script.
func shebang(file string) (interp, arg string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", "", nil // empty or unreadable past open: let exec decide
	}
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return "", "", nil
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", nil
	}
	if len(fields) > 1 {
		arg = fields[1]
	}
	return fields[0], arg, nil
}

// warnRuntime prints checkRuntime's problems for the playground's config
// (cfg, or the built-in example when nil) as warnings: `dev` is for
// trying things out, so it starts anyway and the affected tools fail
// when called.
func warnRuntime(w io.Writer, cfg *config.Config) {
	if cfg == nil {
		cfg = playground.Example()
	}
	if err := checkRuntime(cfg, os.LookupEnv); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(w, "warning: %s\n", line)
		}
	}
}
