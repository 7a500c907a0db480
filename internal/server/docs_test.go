package server

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"tailscale.com/client/local"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// TestOperatingMetricsReference keeps the metric families docs/operating.md
// names under "## Health listener" (each as `tsmcp_name{label,...}`, or
// `tsmcp_name` without labels) equal to those /metrics serves, with the
// same label names. Go runtime, process and tailscaled_* families are
// excluded, as the page says. Every exported method of *metrics.Metrics
// is called once with placeholder arguments first, so that every family
// has a series to gather.
func TestOperatingMetricsReference(t *testing.T) {
	doc := testutil.ReadDoc(t, "operating.md")
	documented := map[string][]string{}
	familyRE := regexp.MustCompile(`^(tsmcp_[a-z_]+)(?:\{([a-z_,]*)\})?$`)
	for _, span := range testutil.CodeSpans(doc.Section(t, "Health listener")) {
		m := familyRE.FindStringSubmatch(span)
		if m == nil {
			continue
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s: %s is named twice", doc.Path, m[1])
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		slices.Sort(labels)
		documented[m[1]] = labels
	}

	served := servedFamilies(t)
	for name, labels := range served {
		want := "`" + name + "{" + strings.Join(labels, ",") + "}`"
		if len(labels) == 0 {
			want = "`" + name + "`"
		}
		got, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s: served on /metrics but not named in %s (add %s to the families under \"## Health listener\")", name, doc.Path, want)
		case !slices.Equal(got, labels):
			t.Errorf("%s: %s gives the labels %q, /metrics serves %q (write %s)", name, doc.Path, got, labels, want)
		}
	}
	for name := range documented {
		if _, ok := served[name]; !ok {
			t.Errorf("%s: named in %s but not served on /metrics (if it is registered but had no series, call the method that records it in servedFamilies)", name, doc.Path)
		}
	}
}

// servedFamilies scrapes /metrics of a host that has not joined (its
// node's LocalAPI unreachable, one upstream reporting status) and returns
// each tsmcp_ family with its sorted label names.
func servedFamilies(t *testing.T) map[string][]string {
	t.Helper()
	s, err := New(Options{Config: config.Default(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.providers = []tools.Provider{statusProvider{}}
	s.registerGauges(&local.Client{Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no tailscaled here")
	}})
	exerciseMetrics(t, s.metrics)

	rec := httptest.NewRecorder()
	s.healthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Result().Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := map[string][]string{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "tsmcp_") {
			continue // Go runtime, process
		}
		labels := []string{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		out[name] = labels
	}
	return out
}

// exerciseMetrics calls every exported method of m once with placeholder
// arguments ("x", {"x"}, true, 1, a function answering zero values), so
// that every labelled family has a series.
func exerciseMetrics(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	v := reflect.ValueOf(m)
	for i := range v.NumMethod() {
		meth := v.Method(i)
		name := v.Type().Method(i).Name
		var args []reflect.Value
		for j := range meth.Type().NumIn() {
			in := meth.Type().In(j)
			a := reflect.New(in).Elem()
			switch in.Kind() {
			case reflect.String:
				a.SetString("x")
			case reflect.Bool:
				a.SetBool(true)
			case reflect.Int, reflect.Int64, reflect.Int32:
				a.SetInt(1)
			case reflect.Float64:
				a.SetFloat(1)
			case reflect.Slice:
				if in.Elem().Kind() == reflect.String {
					a = reflect.ValueOf([]string{"x"}).Convert(in)
				}
			case reflect.Func:
				// A function answering zero values (a count of 0).
				a = reflect.MakeFunc(in, func([]reflect.Value) []reflect.Value {
					out := make([]reflect.Value, in.NumOut())
					for k := range out {
						out[k] = reflect.Zero(in.Out(k))
					}
					return out
				})
			}
			args = append(args, a)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("metrics.%s with placeholder arguments panicked (teach exerciseMetrics its arguments): %v", name, r)
				}
			}()
			if meth.Type().IsVariadic() {
				meth.CallSlice(args)
				return
			}
			meth.Call(args)
		}()
	}
}

// statusProvider is a provider with one upstream part, up.
type statusProvider struct{}

func (statusProvider) Name() string                                { return "x" }
func (statusProvider) Tools(context.Context) ([]tools.Tool, error) { return nil, nil }
func (statusProvider) Close() error                                { return nil }
func (statusProvider) Status() []tools.Status                      { return []tools.Status{{Name: "x", Up: true}} }

// TestEndpointsReference keeps the HTTP paths the docs give equal to the
// paths served: the health listener's in docs/operating.md (the bullets
// of "## Health listener" that open with a path) and security.md's
// pointer to it, the tailnet listener's in docs/security.md (the bullets
// of "## Endpoints" that open with a path). The paths served are read
// from the source: the cases of healthHandler's switch, and the patterns
// tailnetHandler registers on its mux ("GET /{$}" is "/", a subtree
// "/x/" is documented as "/x/*", the catch-all "/" is "anything else").
// Every documented health path is also requested, and is not the fixed
// 404.
func TestEndpointsReference(t *testing.T) {
	operating := testutil.ReadDoc(t, "operating.md")
	security := testutil.ReadDoc(t, "security.md")
	healthDoc := leadPaths(operating.Section(t, "Health listener"))
	endpoints := security.Section(t, "Endpoints")
	tailnetText, healthText, ok := strings.Cut(endpoints, "Health listener (")
	if !ok {
		t.Fatalf("%s: \"## Endpoints\" has no \"Health listener (...)\" part", security.Path)
	}
	tailnetDoc := leadPaths(tailnetText)
	_, pointer, _ := strings.Cut(healthText, "The health listener (")
	pointer, _, _ = strings.Cut(pointer, ")")
	securityHealth := testutil.CodeSpans(pointer)

	healthServed, tailnetServed := servedPaths(t)
	for _, tt := range []struct {
		name               string
		documented, served []string
		where              string
	}{
		{name: "health listener", documented: healthDoc, served: healthServed, where: operating.Path + ` "## Health listener"`},
		{name: "health listener in security.md", documented: securityHealth, served: healthServed, where: security.Path + ` "The health listener (...)"`},
		{name: "tailnet listener", documented: tailnetDoc, served: tailnetServed, where: security.Path + ` "## Endpoints"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.served {
				if !slices.Contains(tt.documented, p) {
					t.Errorf("%s: served but not documented in %s", p, tt.where)
				}
			}
			for _, p := range tt.documented {
				if !slices.Contains(tt.served, p) {
					t.Errorf("%s: documented in %s but not served (served: %q)", p, tt.where, tt.served)
				}
			}
		})
	}

	t.Run("health paths answer", func(t *testing.T) {
		s, err := New(Options{Config: config.Default(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range healthDoc {
			rec := httptest.NewRecorder()
			s.healthHandler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if b, _ := io.ReadAll(rec.Result().Body); string(b) == "404 not found\n" {
				t.Errorf("%s: documented in %s but answered with the fixed 404", p, operating.Path)
			}
		}
	})
}

// leadPaths returns the paths the bullets of text open with.
func leadPaths(text string) []string {
	var out []string
	for _, item := range testutil.Bullets(text) {
		for _, s := range testutil.LeadSpans(item) {
			if strings.HasPrefix(s, "/") {
				out = append(out, s)
			}
		}
	}
	return out
}

// servedPaths reads the paths of the health listener (healthHandler's
// switch cases) and of the tailnet listener (tailnetHandler's mux
// patterns and its 405 map's keys) from the package's source.
func servedPaths(t *testing.T) (health, tailnet []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	add := func(list *[]string, p string) {
		if !slices.Contains(*list, p) {
			*list = append(*list, p)
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			switch fn.Name.Name {
			case "healthHandler":
				ast.Inspect(fn, func(n ast.Node) bool {
					if cc, ok := n.(*ast.CaseClause); ok {
						for _, e := range cc.List {
							if p, ok := stringLit(e); ok {
								add(&health, p)
							}
						}
					}
					return true
				})
			case "tailnetHandler":
				ast.Inspect(fn, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.CallExpr:
						sel, ok := n.Fun.(*ast.SelectorExpr)
						if !ok || sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc" || len(n.Args) == 0 {
							return true
						}
						if pat, ok := stringLit(n.Args[0]); ok {
							if p, ok := documentedPath(pat); ok {
								add(&tailnet, p)
							}
						}
						if bin, ok := n.Args[0].(*ast.BinaryExpr); ok { // m+" /mcp"
							if pat, ok := stringLit(bin.Y); ok {
								if p, ok := documentedPath(strings.TrimSpace(pat)); ok {
									add(&tailnet, p)
								}
							}
						}
					case *ast.KeyValueExpr:
						if p, ok := stringLit(n.Key); ok && strings.HasPrefix(p, "/") {
							add(&tailnet, p)
						}
					}
					return true
				})
			}
		}
	}
	if len(health) == 0 || len(tailnet) == 0 {
		t.Fatalf("found no paths in healthHandler (%q) or tailnetHandler (%q): were they renamed?", health, tailnet)
	}
	return health, tailnet
}

// documentedPath returns how the docs write a mux pattern's path, and
// false for the catch-all "/".
func documentedPath(pattern string) (string, bool) {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p // drop the method
	}
	// A wildcard "{name}" is written "<name>".
	pattern = regexp.MustCompile(`\{(\w+)\}`).ReplaceAllString(pattern, "<$1>")
	switch {
	case pattern == "/":
		return "", false
	case strings.HasSuffix(pattern, "/{$}"):
		return strings.TrimSuffix(pattern, "{$}"), true
	case strings.HasSuffix(pattern, "/"):
		return pattern + "*", true
	}
	return pattern, true
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
