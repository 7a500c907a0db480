package declared

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// maxRedirects is how many redirects an http tool follows.
const maxRedirects = 5

// errorBodySize is how much of a non-2xx response body the error shows.
const errorBodySize = 4096

var (
	errTooManyRedirects = errors.New("too many redirects")
	errRedirectScheme   = errors.New("redirect to a non-http(s) URL")
)

// header is one configured request header: template pieces with, between
// them, the caller's own secrets (${secret:NAME}, see secret.go).
type header struct {
	name  string
	parts []headerPart
}

// httpTool is one compiled http tool.
type httpTool struct {
	p      *Provider
	name   string
	params map[string]*param
	method string
	url    *urlTemplate
	// headers may use params and {{env}}; values are sent as rendered.
	headers []header
	// body is nil for none; params and {{env}} are JSON values in it.
	body        *tmpl
	timeout     time.Duration
	maxResponse int
	client      *http.Client
	envNames    []string // every {{env}} the tool reads, for redaction
	// secretNames are the ${secret:NAME} of the headers, looked up for
	// the caller at each call; nil when none.
	secretNames []string
}

func (p *Provider) newHTTPTool(key string, t config.Tool, lookupIP func(context.Context, string) ([]netip.Addr, error)) (tools.Tool, *http.Transport, error) {
	h := t.HTTP
	hkey := key + ".http"
	params, err := compileParams(key+".params", t.Params, false)
	if err != nil {
		return tools.Tool{}, nil, err
	}
	x := &httpTool{
		p:           p,
		name:        t.Name,
		params:      params,
		method:      strings.ToUpper(cmp.Or(h.Method, http.MethodGet)),
		timeout:     cmp.Or(h.Timeout, config.DefaultToolTimeout),
		maxResponse: int(cmp.Or(h.MaxResponse, config.DefaultMaxOutput)),
	}
	switch x.method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return tools.Tool{}, nil, fmt.Errorf("%s.method: %q is not one of GET, POST, PUT, PATCH, DELETE, HEAD", hkey, h.Method)
	}
	x.url, err = parseURLTemplate(hkey+".url", h.URL, p.lookupEnv, params)
	if err != nil {
		return tools.Tool{}, nil, err
	}
	x.envNames = append(x.envNames, x.url.envNames()...)
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		k := hkey + ".headers." + name
		if strings.EqualFold(name, "Host") {
			return tools.Tool{}, nil, fmt.Errorf("%s: the Host header comes from the url", k)
		}
		hd, err := p.parseHeader(k, name, h.Headers[name], params)
		if err != nil {
			return tools.Tool{}, nil, err
		}
		x.headers = append(x.headers, hd)
		for _, part := range hd.parts {
			if part.t != nil {
				x.envNames = append(x.envNames, part.t.envNames...)
			} else {
				x.secretNames = append(x.secretNames, part.secret)
			}
		}
	}
	slices.Sort(x.secretNames)
	x.secretNames = slices.Compact(x.secretNames)
	if h.Body != "" {
		if x.method == http.MethodGet || x.method == http.MethodHead {
			return tools.Tool{}, nil, fmt.Errorf("%s.body: a %s request has no body", hkey, x.method)
		}
		x.body, err = parseTemplate(hkey+".body", h.Body, envFunc(p.lookupEnv, jsonString))
		if err != nil {
			return tools.Tool{}, nil, err
		}
		if err := checkRefs(x.body, params, hkey+".body"); err != nil {
			return tools.Tool{}, nil, err
		}
		// A body that is not JSON with ordinary values (e.g. "{{.x}}"
		// quoted in the template) would fail every call: say so now.
		sample, err := x.body.t.Clone()
		if err == nil {
			sample = sample.Funcs(map[string]any{"env": func(string) string { return `"x"` }})
			var sb strings.Builder
			if err := sample.Execute(&sb, sampleJSON(params)); err == nil && !json.Valid([]byte(sb.String())) {
				return tools.Tool{}, nil, fmt.Errorf("%s: is not valid JSON once rendered; params are inserted as JSON values, so write {{.name}}, not \"{{.name}}\"", hkey+".body")
			}
		}
		x.envNames = append(x.envNames, x.body.envNames...)
	}
	g, err := newGuard(h.AllowHosts, lookupIP)
	if err != nil {
		return tools.Tool{}, nil, fmt.Errorf("%s.%v", hkey, err)
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	x.client = &http.Client{Transport: tr, CheckRedirect: x.checkRedirect}
	schema, err := inputSchema(params)
	if err != nil {
		return tools.Tool{}, nil, fmt.Errorf("%s.params: %v", key, err)
	}
	def := mcp.NewToolWithRawSchema(t.Name, t.Description, schema)
	switch x.method {
	case http.MethodGet, http.MethodHead:
		def.Annotations = annotations(true, true)
	case http.MethodPut, http.MethodDelete:
		def.Annotations = annotations(false, true)
	default:
		def.Annotations = annotations(false, false)
	}
	return tools.Tool{Tool: withConfigured(def, t.Annotations), Handler: x.handle}, tr, nil
}

// jsonString encodes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return string(b)
}

// sampleJSON returns body template data with an ordinary value of each
// param's type.
func sampleJSON(params map[string]*param) map[string]string {
	data := make(map[string]string, len(params))
	for name, p := range params {
		switch p.typ {
		case typeString:
			data[name] = `"x"`
		case typeBoolean:
			data[name] = "true"
		default:
			data[name] = "1"
		}
	}
	return data
}

// checkRedirect follows at most maxRedirects http(s) redirects. A
// redirect to another host or from https to http drops every configured
// header, so secrets go only where the config sends them. (Each redirect
// is dialled through the guard too.)
func (x *httpTool) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return errRedirectScheme
	}
	first := via[0].URL
	if req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
		for _, h := range x.headers {
			req.Header.Del(h.name)
		}
	}
	return nil
}

// secrets returns the values of the tool's {{env}} variables.
func (x *httpTool) secrets() redactor {
	var r redactor
	for _, n := range x.envNames {
		if v, ok := x.p.lookupEnv(n); ok {
			r = r.addSecret(v)
		}
	}
	return r
}

// request builds the request for validated values and the caller's
// secrets (by name). On failure it returns a message for the caller and
// an error with the detail for the log (neither holds argument values or
// secrets).
func (x *httpTool) request(ctx context.Context, vals map[string]value, secretVals map[string]string) (*http.Request, string, error) {
	u, err := x.url.render(x.params, vals)
	if err != nil {
		var ue *urlError
		if errors.As(err, &ue) {
			return nil, ue.msg, err
		}
		return nil, renderError(err), err
	}
	var body io.Reader
	if x.body != nil {
		data := make(map[string]string, len(x.params))
		for name := range x.params {
			if v, ok := vals[name]; ok {
				data[name] = v.json()
			} else {
				data[name] = "null"
			}
		}
		b, err := x.body.render(data)
		if err != nil {
			return nil, renderError(err), err
		}
		if !json.Valid([]byte(b)) {
			return nil, "the request body is not valid JSON for these arguments", errors.New("rendered body is not valid JSON")
		}
		body = strings.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, x.method, u.String(), body)
	if err != nil {
		return nil, "the request could not be built", errors.New("http.NewRequest failed")
	}
	req.Header.Set("User-Agent", "tsmcp")
	if x.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hdata := make(map[string]string, len(x.params))
	for name := range x.params {
		hdata[name] = vals[name].text
	}
	for _, h := range x.headers {
		v, err := h.render(hdata, secretVals)
		if err != nil {
			return nil, renderError(err), err
		}
		if !validHeaderValue(v) {
			return nil, fmt.Sprintf("the value of header %s would contain control characters", h.name), fmt.Errorf("header %s: control characters", h.name)
		}
		req.Header.Set(h.name, v)
	}
	return req, "", nil
}

// validHeaderValue reports whether v may be sent as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func (x *httpTool) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	vals, refused := x.p.values(ctx, x.name, x.params, req)
	if refused != nil {
		return refused, nil
	}
	run, end, ok := x.p.begin(ctx, x.timeout)
	if !ok {
		return refusedClosed(), nil
	}
	defer end()
	secretVals, refused := x.callerSecrets(run) // bounded by the timeout, ended by Close
	if refused != nil {
		return refused, nil
	}
	hreq, msg, err := x.request(run, vals, secretVals)
	if err != nil {
		return x.p.failed(ctx, x.name, "request", msg, "error", err.Error()), nil
	}
	r := x.secrets()
	for _, v := range secretVals {
		r = r.addSecret(v)
	}
	return x.do(run, hreq, r), nil
}

// do sends the request and turns the response into a result.
func (x *httpTool) do(ctx context.Context, req *http.Request, secrets redactor) *mcp.CallToolResult {
	req, span := startHTTPSpan(req) // trace.go
	resp, err := x.client.Do(req)
	endHTTPSpan(span, resp, err)
	if err != nil {
		return x.requestFailed(ctx, err)
	}
	defer resp.Body.Close()
	// Read one byte more than the cap to know whether there is more; the
	// rest is not read (closing the body drops the connection).
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(x.maxResponse)+1))
	if err != nil {
		if ctx.Err() != nil {
			return x.p.ended(ctx, x.name, x.timeout, "request")
		}
		return x.p.failed(ctx, x.name, "response", "the response could not be read", "error", unwrapURLError(err).Error())
	}
	truncated := len(b) > x.maxResponse
	if truncated {
		b = b[:x.maxResponse]
	}
	status := fmt.Sprintf("HTTP %s", resp.Status)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := status
		if len(b) > 0 {
			shown := b[:min(len(b), errorBodySize)]
			msg += fmt.Sprintf("\nresponse body (first %d bytes):\n%s", len(shown), shown)
		}
		return x.p.failed(ctx, x.name, "status", secrets.apply(msg), "status", resp.StatusCode)
	}
	text := string(b)
	if len(b) == 0 {
		text = fmt.Sprintf("(empty response, %s)", status)
	}
	if truncated {
		if resp.ContentLength > 0 {
			text += fmt.Sprintf("\n[response truncated: %d of %d bytes shown]", len(b), resp.ContentLength)
		} else {
			text += fmt.Sprintf("\n[response truncated: first %d bytes shown]", len(b))
		}
	}
	return mcp.NewToolResultText(secrets.apply(text))
}

// requestFailed turns a client.Do error into a result: what the caller
// may know, the rest to the log (never the URL, which may hold argument
// values or secrets).
func (x *httpTool) requestFailed(ctx context.Context, err error) *mcp.CallToolResult {
	var be *blockedError
	switch {
	case errors.As(err, &be):
		return x.p.failed(ctx, x.name, "blocked",
			"request refused: the target address is not allowed (loopback, link-local, cloud metadata, tailnet or multicast); the tool's allow_hosts can permit it",
			"host", be.host, "addr", be.addr.String(), "range", be.what)
	case errors.Is(err, errTooManyRedirects):
		return x.p.failed(ctx, x.name, "redirects", fmt.Sprintf("request refused: more than %d redirects", maxRedirects))
	case errors.Is(err, errRedirectScheme):
		return x.p.failed(ctx, x.name, "redirect_scheme", "request refused: a redirect to a URL that is not http or https")
	case ctx.Err() != nil:
		return x.p.ended(ctx, x.name, x.timeout, "request")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return x.p.failed(ctx, x.name, "dns", "the request failed: the host name could not be resolved", "error", unwrapURLError(err).Error())
	}
	return x.p.failed(ctx, x.name, "request", "the request failed", "error", unwrapURLError(err).Error())
}

// unwrapURLError drops a *url.Error's URL, which may hold argument
// values or secrets.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
