package declared

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
)

// FuzzExecArgv: a string argument becomes exactly one argv element equal
// to the value (run for real, through printf), or is refused for a
// NUL byte or a leading '-'.
func FuzzExecArgv(f *testing.F) {
	for _, s := range []string{
		"plain", "; rm -rf / $(id) `id` | & > < * ? ~ \n", "-rf", "--", "a\x00b", "", " ", "\t\n",
		"{{.x}}", `{{env "PATH"}}`, "%s%n", "ünï 🎉", "\xff\xfe", "a b c", "'\"\\",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	p, err := New([]config.Tool{
		argvTool("strict", []string{"{{.x}}"}, map[string]config.Param{"x": {Required: true}}),
		argvTool("lenient", []string{"{{.x}}"}, map[string]config.Param{"x": {Required: true, AllowLeadingDash: true}}),
	}, Options{LookupEnv: env(testEnv())})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Close() })
	f.Fuzz(func(t *testing.T, s string, allowDash bool) {
		// What the server receives: the value after a JSON round trip
		// (invalid UTF-8 becomes U+FFFD).
		b, _ := json.Marshal(map[string]string{"x": s})
		var sent map[string]string
		_ = json.Unmarshal(b, &sent)
		v := sent["x"]
		tool := "strict"
		if allowDash {
			tool = "lenient"
		}
		res := callRaw(t, context.Background(), p, tool, string(b))
		refuse := strings.ContainsRune(v, 0) || (!allowDash && strings.HasPrefix(v, "-"))
		if refuse {
			if !res.IsError || !strings.HasPrefix(text(res), `invalid argument "x": `) {
				t.Fatalf("value %q not refused: %q", v, text(res))
			}
			return
		}
		if res.IsError {
			if len(v) > 100000 && strings.Contains(text(res), "could not be started") {
				return // beyond the kernel's argument size limit
			}
			t.Fatalf("value %q refused: %q", v, text(res))
		}
		if got := parseArgv(t, text(res)); !reflect.DeepEqual(got, []string{v}) {
			t.Fatalf("argv %q, want [%q]", got, v)
		}
	})
}

// FuzzURL: whatever the path and query values, the rendered URL keeps
// its scheme, host and shape; each value comes back intact from its
// path segment or query value, or the call is refused.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"plain", "a/b", "../../admin", "..", ".", "", "%2F", "%2e%2e", "?x=1", "#frag", "@evil.example",
		"evil.example:80", "//evil.example/x", "http://evil.example/", `\\evil`, "a&fixed=2", "a b+c",
		"\r\nHost: x", "ünï", "\xff", "[::1]", "%", "%zz",
	} {
		f.Add(s, s)
	}
	params := map[string]config.Param{"id": {Required: true, AllowLeadingDash: true}, "q": {Required: true, AllowLeadingDash: true}}
	lookup := env(map[string]string{})
	cp, err := compileParams("params", params, false)
	if err != nil {
		f.Fatal(err)
	}
	ut, err := parseURLTemplate("url", "http://api.test:8080/v1/items/{{.id}}/details?q={{.q}}&fixed=1#top", lookup, cp)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, q string) {
		vals, err := validate(cp, map[string]any{"id": id, "q": q})
		if err != nil {
			if !strings.ContainsRune(id+q, 0) {
				t.Fatalf("refused without NUL: %v", err)
			}
			return
		}
		u, err := ut.render(cp, vals)
		if err != nil {
			if _, ok := err.(*urlError); !ok {
				t.Fatalf("render: %v", err)
			}
			if id != "" && id != "." && id != ".." {
				t.Fatalf("id %q refused: %v", id, err)
			}
			return
		}
		// As the client will send it.
		req, err := http.NewRequest("GET", u.String(), nil)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if req.URL.Scheme != "http" || req.URL.Host != "api.test:8080" || req.URL.User != nil || req.Host != "api.test:8080" {
			t.Fatalf("target changed: %s", req.URL.Redacted())
		}
		if _, err := netip.ParseAddr(req.URL.Hostname()); err == nil {
			t.Fatalf("host became an IP: %s", req.URL.Redacted())
		}
		segs := strings.Split(req.URL.EscapedPath(), "/")
		if len(segs) != 5 || segs[1] != "v1" || segs[2] != "items" || segs[4] != "details" {
			t.Fatalf("path changed shape: %q", req.URL.EscapedPath())
		}
		if got, err := url.PathUnescape(segs[3]); err != nil || got != id {
			t.Fatalf("segment %q is %q, want %q", segs[3], got, id)
		}
		qv, err := url.ParseQuery(req.URL.RawQuery)
		if err != nil || !reflect.DeepEqual(qv["q"], []string{q}) || !reflect.DeepEqual(qv["fixed"], []string{"1"}) || len(qv) != 2 {
			t.Fatalf("query %q parses to %v (%v)", req.URL.RawQuery, qv, err)
		}
		if req.URL.Fragment != "top" {
			t.Fatalf("fragment %q", req.URL.Fragment)
		}
	})
}
