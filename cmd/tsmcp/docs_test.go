package main

import (
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// flagSpanRE matches a code span naming a flag ("--tsnet",
// "--state DIR"): its name, and the default the page gives right after
// it as "(default X)", if any.
var flagSpanRE = regexp.MustCompile("`--([a-z0-9-]+)[^`]*`(?: \\([^)]*?\\bdefault `?([^`),]+)`?\\))?")

// TestConnectReference keeps docs/connect.md true: the flags it names
// (every `--flag` code span) are exactly the flags `tsmcp connect`
// defines (the global --config, --verbose and --log-format may be named
// too), and a default it gives is the flag's default.
func TestConnectReference(t *testing.T) {
	doc := testutil.ReadDoc(t, "connect.md")
	var page strings.Builder
	for _, s := range doc.Sections {
		page.WriteString(s)
	}
	documented := map[string]string{} // flag name -> the default the page gives
	for _, m := range flagSpanRE.FindAllStringSubmatch(page.String(), -1) {
		if d, ok := documented[m[1]]; !ok || d == "" {
			documented[m[1]] = m[2]
		}
	}

	root := newRootCmd(io.Discard, io.Discard)
	cmd, _, err := root.Find([]string{"connect"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if _, ok := documented[f.Name]; !ok {
			t.Errorf("--%s: a flag of tsmcp connect that %s does not name", f.Name, doc.Path)
		}
	})
	for name, def := range documented {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			f = cmd.InheritedFlags().Lookup(name)
		}
		switch {
		case f == nil:
			t.Errorf("--%s: named in %s but not a flag of tsmcp connect", name, doc.Path)
		case def != "" && !slices.Contains([]string{"", "false", "0s"}, f.DefValue) && def != f.DefValue:
			t.Errorf("--%s: %s gives the default %q, the flag's default is %q", name, doc.Path, def, f.DefValue)
		}
	}
}
