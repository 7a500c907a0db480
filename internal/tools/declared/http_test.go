package declared

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
)

// seen is what a test server saw of one request.
type seen struct {
	Method, Host, Path, Query string
	Header                    http.Header
	Body                      string
}

// server is an httptest server that records its requests.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{r.Method, r.Host, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)})
		s.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() int { return s.Listener.Addr().(*net.TCPAddr).Port }

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func (s *server) last(t *testing.T) seen {
	t.Helper()
	r := s.requests()
	if len(r) == 0 {
		t.Fatal("the server saw no request")
	}
	return r[len(r)-1]
}

// resolver resolves the names in m (to loopback addresses of test
// servers) and everything else with the system resolver.
func resolver(m map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if as, ok := m[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
			var out []netip.Addr
			for _, a := range as {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
}

func httpToolCfg(name, method, rawURL string, params map[string]config.Param, mod func(*config.HTTPTool)) config.Tool {
	h := &config.HTTPTool{Method: method, URL: rawURL}
	if mod != nil {
		mod(h)
	}
	return config.Tool{Name: name, HTTP: h, Params: params}
}

func allow(hosts ...string) func(*config.HTTPTool) {
	return func(h *config.HTTPTool) { h.AllowHosts = hosts }
}

var testNames = map[string][]string{
	"api.test":    {"127.0.0.1"},
	"other.test":  {"127.0.0.1"},
	"rebind.test": {"127.0.0.1"},
	"mixed.test":  {"10.0.0.1", "127.0.0.1"},
	"meta.test":   {"169.254.169.254"},
}

func TestHTTPPathAndQueryEscaping(t *testing.T) {
	srv := newServer(t, nil)
	base := fmt.Sprintf("http://api.test:%d", srv.port())
	p, _ := newProvider(t, []config.Tool{
		httpToolCfg("get", "GET", base+"/v1/items/{{.id}}/details?q={{.q}}&fixed=1",
			map[string]config.Param{"id": {Required: true}, "q": {Required: true}}, allow("api.test")),
	}, Options{LookupIP: resolver(testNames)})
	tests := []struct {
		name, value string
	}{
		{"plain", "plain"},
		{"slash", "a/b"},
		{"dot dot slash", "../../admin"},
		{"encoded slash", "%2F"},
		{"encoded traversal", "..%2F..%2Fadmin"},
		{"question mark", "?x=1"},
		{"hash", "#frag"},
		{"at", "@evil.example"},
		{"host and port", "evil.example:80"},
		{"scheme relative", "//evil.example/x"},
		{"absolute URL", "http://evil.example/"},
		{"backslash", `\\evil.example\x`},
		{"ampersand", "a&fixed=2"},
		{"space and plus", "a b+c"},
		{"unicode", "ünï 🎉"},
		{"semicolon comma", "a;b,c"},
		{"percent", "100%"},
		{"dots inside", "a..b"},
		{"CRLF", "a\r\nHost: evil.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustOK(t, call(t, p, "get", map[string]any{"id": tt.value, "q": tt.value}))
			r := srv.last(t)
			if r.Host != fmt.Sprintf("api.test:%d", srv.port()) {
				t.Errorf("Host = %q", r.Host)
			}
			segs := strings.Split(r.Path, "/")
			if len(segs) != 5 || segs[1] != "v1" || segs[2] != "items" || segs[4] != "details" {
				t.Fatalf("path %q changed shape", r.Path)
			}
			if got, err := url.PathUnescape(segs[3]); err != nil || got != tt.value {
				t.Errorf("segment %q decodes to %q, want %q", segs[3], got, tt.value)
			}
			q, err := url.ParseQuery(r.Query)
			if err != nil || !reflect.DeepEqual(q["q"], []string{tt.value}) || !reflect.DeepEqual(q["fixed"], []string{"1"}) {
				t.Errorf("query %q parses to %v", r.Query, q)
			}
		})
	}
	for _, v := range []string{".", "..", ""} {
		t.Run(fmt.Sprintf("segment %q refused", v), func(t *testing.T) {
			n := len(srv.requests())
			mustFail(t, call(t, p, "get", map[string]any{"id": v, "q": "x"}), `the URL path would have an empty, "." or ".." segment`)
			if len(srv.requests()) != n {
				t.Error("the request was sent")
			}
		})
	}
}

func TestHTTPSSRFRefused(t *testing.T) {
	srv := newServer(t, nil)
	port := srv.port()
	targets := []struct {
		name, url string
	}{
		{"loopback IPv4", fmt.Sprintf("http://127.0.0.1:%d/", port)},
		{"loopback other", fmt.Sprintf("http://127.1.2.3:%d/", port)},
		{"loopback IPv6", fmt.Sprintf("http://[::1]:%d/", port)},
		{"IPv4-mapped loopback", fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port)},
		{"IPv4-mapped loopback hex", fmt.Sprintf("http://[::ffff:7f00:1]:%d/", port)},
		{"unspecified", fmt.Sprintf("http://0.0.0.0:%d/", port)},
		{"unspecified IPv6", fmt.Sprintf("http://[::]:%d/", port)},
		{"metadata", "http://169.254.169.254/latest/meta-data/"},
		{"IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/latest/meta-data/"},
		{"NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/"},
		{"AWS IPv6 metadata", "http://[fd00:ec2::254]/latest/meta-data/"},
		{"Alibaba metadata", "http://100.100.100.200/latest/meta-data/"},
		{"link-local", "http://169.254.1.1/"},
		{"link-local IPv6", "http://[fe80::1]/"},
		{"tailnet CGNAT", "http://100.64.0.1/"},
		{"tailnet CGNAT top", "http://100.127.255.254/"},
		{"tailnet IPv6", "http://[fd7a:115c:a1e0::1]/"},
		{"multicast", "http://224.0.0.1/"},
		{"broadcast", "http://255.255.255.255/"},
		{"localhost by name", fmt.Sprintf("http://localhost:%d/", port)},
		{"DNS name to loopback", fmt.Sprintf("http://rebind.test:%d/", port)},
		{"DNS name to metadata", "http://meta.test/latest/meta-data/"},
		{"DNS answer mixing private and loopback", fmt.Sprintf("http://mixed.test:%d/", port)},
	}
	var tools []config.Tool
	for i, tt := range targets {
		tools = append(tools, httpToolCfg(fmt.Sprintf("t%d", i), "GET", tt.url, nil, allow("api.test", "127.0.0.2", "10.0.0.0/8")))
	}
	p, logs := newProvider(t, tools, Options{LookupIP: resolver(testNames)})
	for i, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			mustFail(t, call(t, p, fmt.Sprintf("t%d", i), nil), "request refused: the target address is not allowed")
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
	if !strings.Contains(logs.String(), `"reason":"blocked"`) || !strings.Contains(logs.String(), `"addr":"169.254.169.254"`) {
		t.Errorf("refusals not logged: %s", logs)
	}
}

func TestHTTPAllowHosts(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "reached") })
	port := srv.port()
	tests := []struct {
		name, url string
		allow     []string
		reached   bool
	}{
		{"IP named", fmt.Sprintf("http://127.0.0.1:%d/", port), []string{"127.0.0.1"}, true},
		{"CIDR contains it", fmt.Sprintf("http://127.0.0.1:%d/", port), []string{"127.0.0.0/8"}, true},
		{"mapped form in allow_hosts", fmt.Sprintf("http://127.0.0.1:%d/", port), []string{"::ffff:127.0.0.1"}, true},
		{"mapped form in the URL", fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port), []string{"127.0.0.1"}, true},
		{"name named", fmt.Sprintf("http://api.test:%d/", port), []string{"api.test"}, true},
		{"name case and trailing dot", fmt.Sprintf("http://API.test.:%d/", port), []string{"api.TEST."}, true},
		{"localhost named", fmt.Sprintf("http://localhost:%d/", port), []string{"localhost"}, true},
		{"another IP named", fmt.Sprintf("http://127.0.0.1:%d/", port), []string{"127.0.0.2"}, false},
		{"another name named", fmt.Sprintf("http://api.test:%d/", port), []string{"other.test"}, false},
		{"the IP of an allowed name", fmt.Sprintf("http://127.0.0.1:%d/", port), []string{"api.test"}, false},
	}
	var tools []config.Tool
	for i, tt := range tests {
		tools = append(tools, httpToolCfg(fmt.Sprintf("t%d", i), "GET", tt.url, nil, allow(tt.allow...)))
	}
	p, _ := newProvider(t, tools, Options{LookupIP: resolver(testNames)})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, p, fmt.Sprintf("t%d", i), nil)
			if tt.reached {
				if got := mustOK(t, res); got != "reached" {
					t.Errorf("result %q", got)
				}
			} else {
				mustFail(t, res, "not allowed")
			}
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	const key = "k3y-must-stay-home"
	other := newServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "other") })
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-loopback":
			http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/", other.port()), http.StatusFound)
		case "/to-rebind":
			http.Redirect(w, r, fmt.Sprintf("http://rebind.test:%d/", other.port()), http.StatusTemporaryRedirect)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/to-gopher":
			http.Redirect(w, r, "gopher://api.test/", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/to-ok":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/ok":
			fmt.Fprintf(w, "ok key-present=%v", r.Header.Get("X-Api-Key") == key)
		case "/to-other":
			http.Redirect(w, r, fmt.Sprintf("http://other.test:%d/", other.port()), http.StatusFound)
		}
	})
	p, _ := newProvider(t, []config.Tool{
		httpToolCfg("r", "GET", fmt.Sprintf("http://api.test:%d/{{.path}}", srv.port()),
			map[string]config.Param{"path": {Required: true}}, func(h *config.HTTPTool) {
				h.AllowHosts = []string{"api.test", "other.test"}
				h.Headers = map[string]string{"X-Api-Key": `{{env "API_KEY"}}`}
			}),
	}, Options{LookupIP: resolver(testNames), LookupEnv: env(map[string]string{"API_KEY": key})})
	tests := []struct {
		name, path, want string
		ok               bool
	}{
		{"to metadata refused", "to-metadata", "not allowed", false},
		{"to loopback on another port refused", "to-loopback", "not allowed", false},
		{"to a name resolving to loopback refused", "to-rebind", "not allowed", false},
		{"to file refused", "to-file", "a redirect to a URL that is not http or https", false},
		{"to gopher refused", "to-gopher", "a redirect to a URL that is not http or https", false},
		{"loop stops", "loop", "more than 5 redirects", false},
		{"same host keeps headers", "to-ok", "ok key-present=true", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, p, "r", map[string]any{"path": tt.path})
			if tt.ok {
				if got := mustOK(t, res); got != tt.want {
					t.Errorf("result %q, want %q", got, tt.want)
				}
				return
			}
			mustFail(t, res, tt.want)
		})
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("refused redirects reached the other server %d times", n)
	}
	t.Run("another allowed host gets no configured headers", func(t *testing.T) {
		if got := mustOK(t, call(t, p, "r", map[string]any{"path": "to-other"})); got != "other" {
			t.Errorf("result %q", got)
		}
		if h := other.last(t).Header.Get("X-Api-Key"); h != "" {
			t.Errorf("X-Api-Key %q followed the redirect to another host", h)
		}
	})
}

func TestHTTPSecrets(t *testing.T) {
	const token, qkey = "tok-abc123-very-secret", "q-key/with+special&chars"
	echo := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintf(w, "auth=%s id=%s url=%s", r.Header.Get("Authorization"), r.Header.Get("X-Request-Id"), r.URL.RequestURI())
	}
	srv := newServer(t, echo)
	base := fmt.Sprintf("http://api.test:%d", srv.port())
	params := map[string]config.Param{"id": {}, "path": {}}
	headers := func(h *config.HTTPTool) {
		h.AllowHosts = []string{"api.test"}
		h.Headers = map[string]string{"Authorization": `Bearer {{env "API_TOKEN"}}`, "X-Request-Id": "{{.id}}"}
	}
	p, logs := newProvider(t, []config.Tool{
		httpToolCfg("echo", "GET", base+`/{{.path}}?key={{env "QUERY_KEY"}}`, params, headers),
		httpToolCfg("missing", "GET", base+"/", nil, func(h *config.HTTPTool) {
			h.AllowHosts = []string{"api.test"}
			h.Headers = map[string]string{"Authorization": `Bearer {{env "NOT_SET_ANYWHERE"}}`}
		}),
	}, Options{LookupIP: resolver(testNames), LookupEnv: env(map[string]string{"API_TOKEN": token, "QUERY_KEY": qkey})})

	t.Run("headers from env reach the server", func(t *testing.T) {
		got := mustOK(t, call(t, p, "echo", map[string]any{"id": "req-1", "path": "ok"}))
		r := srv.last(t)
		if r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get("X-Request-Id") != "req-1" {
			t.Errorf("server saw %v", r.Header)
		}
		if q, _ := url.ParseQuery(r.Query); q.Get("key") != qkey {
			t.Errorf("query %q", r.Query)
		}
		if strings.Contains(got, token) || strings.Contains(got, url.QueryEscape(qkey)) || !strings.Contains(got, "auth=Bearer [redacted]") {
			t.Errorf("result shows a secret: %q", got)
		}
	})
	t.Run("not in error results", func(t *testing.T) {
		got := mustFail(t, call(t, p, "echo", map[string]any{"id": "req-2", "path": "fail"}), "HTTP 500 Internal Server Error")
		if strings.Contains(got, token) || strings.Contains(got, url.QueryEscape(qkey)) {
			t.Errorf("error shows a secret: %q", got)
		}
	})
	t.Run("header injection refused", func(t *testing.T) {
		mustFail(t, call(t, p, "echo", map[string]any{"id": "a\r\nX-Evil: 1", "path": "ok"}), "the value of header X-Request-Id would contain control characters")
	})
	t.Run("missing variable named, not valued", func(t *testing.T) {
		mustFail(t, call(t, p, "missing", nil), "environment variable NOT_SET_ANYWHERE is not set")
	})
	for _, s := range []string{token, qkey, url.QueryEscape(qkey), "req-1"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log holds %q: %s", s, logs)
		}
	}
}

func TestHTTPProxyNeverUsed(t *testing.T) {
	// White box: net/http reads HTTP(S)_PROXY once per process, so a
	// behavioural test could pass by luck.
	p, _ := newProvider(t, []config.Tool{httpToolCfg("t", "GET", "http://api.test/", nil, nil)}, Options{})
	if len(p.transports) != 1 || p.transports[0].Proxy != nil {
		t.Fatal("an http tool's transport has a proxy")
	}
}

func TestHTTPBody(t *testing.T) {
	const token = "body-token-\"quoted\"-secret"
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "stored") })
	p, _ := newProvider(t, []config.Tool{
		httpToolCfg("post", "POST", fmt.Sprintf("http://api.test:%d/items", srv.port()),
			map[string]config.Param{
				"name":  {Required: true},
				"count": {Type: "integer", Required: true},
				"ratio": {Type: "number"},
				"flag":  {Type: "boolean"},
				"opt":   {},
			}, func(h *config.HTTPTool) {
				h.AllowHosts = []string{"api.test"}
				h.Body = `{"name": {{.name}}, "count": {{.count}}, "ratio": {{.ratio}}, "flag": {{.flag}}, "opt": {{.opt}}, "token": {{env "TOKEN"}}, "nested": {"list": [{{.name}}, {{.count}}]}}`
			}),
	}, Options{LookupIP: resolver(testNames), LookupEnv: env(map[string]string{"TOKEN": token})})
	hostile := []string{
		`", "admin": true, "x": "`,
		`\`,
		`\"`,
		`"`,
		"\u2028\u2029",
		"</script><script>alert(1)</script>",
		"\n\r\t\b\f",
		"\x01\x1f\x7f",
		"{{.count}}",
		`{"a":1}`,
		"}]}",
		"ünï 🎉",
		"",
	}
	for _, name := range hostile {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			mustOK(t, call(t, p, "post", map[string]any{"name": name, "count": -3, "ratio": 0.5, "flag": false}))
			r := srv.last(t)
			if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("method %s, content type %q", r.Method, r.Header.Get("Content-Type"))
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, r.Body)
			}
			want := map[string]any{
				"name": name, "count": -3.0, "ratio": 0.5, "flag": false, "opt": nil, "token": token,
				"nested": map[string]any{"list": []any{name, -3.0}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body decodes to %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestHTTPResponses(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", "100000")
			_, _ = io.WriteString(w, strings.Repeat("a", 100000))
		case "/big-chunked":
			for range 100 {
				_, _ = io.WriteString(w, strings.Repeat("b", 1000))
				w.(http.Flusher).Flush()
			}
		case "/exact":
			_, _ = io.WriteString(w, strings.Repeat("c", 1024))
		case "/missing":
			http.Error(w, "no such service", http.StatusNotFound)
		case "/error":
			w.WriteHeader(http.StatusInternalServerError)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/slow":
			<-r.Context().Done()
		default:
			_, _ = io.WriteString(w, "fine")
		}
	})
	tests := []struct {
		name, method, path string
		isErr              bool
		want               string
	}{
		{"capped with length", "GET", "big", false, strings.Repeat("a", 1024) + "\n[response truncated: 1024 of 100000 bytes shown]"},
		{"capped chunked", "GET", "big-chunked", false, strings.Repeat("b", 1024) + "\n[response truncated: first 1024 bytes shown]"},
		{"exactly the cap", "GET", "exact", false, strings.Repeat("c", 1024)},
		{"not found", "GET", "missing", true, "HTTP 404 Not Found\nresponse body (first 16 bytes):\nno such service\n"},
		{"server error without body", "GET", "error", true, "HTTP 500 Internal Server Error"},
		{"no content", "DELETE", "empty", false, "(empty response, HTTP 204 No Content)"},
		{"HEAD", "HEAD", "", false, "(empty response, HTTP 200 OK)"},
		{"timeout", "GET", "slow", true, "the request timed out after 200ms"},
	}
	var tools []config.Tool
	for i, tt := range tests {
		tools = append(tools, httpToolCfg(fmt.Sprintf("t%d", i), tt.method, fmt.Sprintf("http://api.test:%d/%s", srv.port(), tt.path), nil,
			func(h *config.HTTPTool) {
				h.AllowHosts = []string{"api.test"}
				h.MaxResponse = 1024
				h.Timeout = 200 * time.Millisecond
			}))
	}
	p, logs := newProvider(t, tools, Options{LookupIP: resolver(testNames)})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, p, fmt.Sprintf("t%d", i), nil)
			if res.IsError != tt.isErr || text(res) != tt.want {
				t.Errorf("IsError=%v %q\nwant IsError=%v %q", res.IsError, text(res), tt.isErr, tt.want)
			}
		})
	}
	if !strings.Contains(logs.String(), `"status":404`) || !strings.Contains(logs.String(), `"reason":"timeout"`) {
		t.Errorf("failures not logged: %s", logs)
	}
}

func TestNewErrors(t *testing.T) {
	exec := func(cmd ...string) *config.ExecTool { return &config.ExecTool{Command: cmd} }
	x := map[string]config.Param{"x": {}}
	tests := []struct {
		name string
		tool config.Tool
		want string
	}{
		{"neither", config.Tool{Name: "a"}, "tools[1]: needs exactly one of exec or http"},
		{"both", config.Tool{Name: "a", Exec: exec("true"), HTTP: &config.HTTPTool{URL: "http://h/"}}, "tools[1]: needs exactly one of exec or http"},
		{"duplicate", config.Tool{Name: "ok", Exec: exec("true")}, `tools[1].name: "ok" is already used by tools[0]`},
		{"unknown param", config.Tool{Name: "a", Exec: exec("ls", "{{.nope}}")}, "tools[1].exec.command[1]: refers to {{.nope}}"},
		{"program template", config.Tool{Name: "a", Exec: exec("{{.x}}"), Params: x}, "tools[1].exec.command[0]: the program must not be a template"},
		{"env in argv", config.Tool{Name: "a", Exec: exec("ls", `{{env "X"}}`)}, `tools[1].exec.command[1]: template: tools[1].exec.command[1]:1: function "env" not defined`},
		{"dir template", config.Tool{Name: "a", Exec: &config.ExecTool{Command: []string{"ls"}, Dir: "/{{.x}}"}, Params: x}, "tools[1].exec.dir: must not be a template"},
		{"params in exec env", config.Tool{Name: "a", Exec: &config.ExecTool{Command: []string{"ls"}, Env: map[string]string{"A": "{{.x}}"}}, Params: x}, "tools[1].exec.env.A: must not refer to params"},
		{"env name from a param", httpToolCfg("a", "GET", "http://h/", x, func(h *config.HTTPTool) { h.Headers = map[string]string{"A": "{{env .x}}"} }), `tools[1].http.headers.A: env must be called as {{env "NAME"}} with a constant name`},
		{"env piped", httpToolCfg("a", "GET", "http://h/", x, func(h *config.HTTPTool) { h.Headers = map[string]string{"A": `{{"X" | env}}`} }), "env must be called as"},
		{"param in host", httpToolCfg("a", "GET", "http://{{.x}}/", x, nil), "tools[1].http.url: params may appear in the path and query, not in the scheme, credentials or host"},
		{"param in port", httpToolCfg("a", "GET", "http://h:{{.x}}/", x, nil), "not in the scheme, credentials or host"},
		{"param in credentials", httpToolCfg("a", "GET", "http://{{.x}}@h/", x, nil), "not in the scheme, credentials or host"},
		{"param in scheme", httpToolCfg("a", "GET", "{{.x}}://h/", x, nil), "with a literal scheme"},
		{"not http", httpToolCfg("a", "GET", "ftp://h/", nil, nil), "tools[1].http.url: the URL does not start with http:// or https:// and a host"},
		{"dot segment", httpToolCfg("a", "GET", "http://h/a/../b", nil, nil), `tools[1].http.url: the path has an empty, "." or ".." segment`},
		{"method", httpToolCfg("a", "TRACE", "http://h/", nil, nil), `tools[1].http.method: "TRACE" is not one of`},
		{"body on GET", httpToolCfg("a", "GET", "http://h/", nil, func(h *config.HTTPTool) { h.Body = "{}" }), "tools[1].http.body: a GET request has no body"},
		{"quoted param in body", httpToolCfg("a", "POST", "http://h/", x, func(h *config.HTTPTool) { h.Body = `{"x": "{{.x}}"}` }), "tools[1].http.body: is not valid JSON once rendered"},
		{"Host header", httpToolCfg("a", "GET", "http://h/", nil, func(h *config.HTTPTool) { h.Headers = map[string]string{"host": "evil"} }), "tools[1].http.headers.host: the Host header comes from the url"},
		{"bad allow_hosts", httpToolCfg("a", "GET", "http://h/", nil, allow("a b")), `tools[1].http.allow_hosts[0]: "a b" is not a host name`},
		{"bad pattern", config.Tool{Name: "a", Exec: exec("ls"), Params: map[string]config.Param{"x": {Pattern: "("}}}, "tools[1].params.x.pattern"},
		{"bad type", config.Tool{Name: "a", Exec: exec("ls"), Params: map[string]config.Param{"x": {Type: "array"}}}, `tools[1].params.x.type: "array"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]config.Tool{{Name: "ok", Exec: exec("true")}, tt.tool}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestHTTPStoppedByClose: Close cancels an in-flight request and waits
// for the call to return.
func TestHTTPStoppedByClose(t *testing.T) {
	arrived := make(chan struct{})
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	p, _ := newProvider(t, []config.Tool{
		httpToolCfg("slow", "GET", fmt.Sprintf("http://api.test:%d/", srv.port()), nil, func(h *config.HTTPTool) {
			h.AllowHosts = []string{"api.test"}
			h.Timeout = time.Hour
		}),
	}, Options{LookupIP: resolver(testNames)})
	h := handlerOf(t, p, "slow")
	var wg sync.WaitGroup
	var res string
	wg.Go(func() { res, _ = h(context.Background(), "{}") })
	<-arrived
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if res != "the request was stopped: tsmcp is shutting down" {
		t.Errorf("result %q", res)
	}
}
