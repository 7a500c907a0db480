package acl

import (
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// uriTestPolicy lets bob read under two prefixes and one exact URI, and
// alice everything.
func uriTestPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := New(Config{Rules: []Rule{
		{Src: []string{"bob@example.com"}, Resources: bobResourcePatterns},
		{Src: []string{"alice@example.com"}, Resources: []string{"*"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var bobResourcePatterns = []string{
	"every+demo://resource/static/document/*",
	"files+file:///handbook/*",
	"every+demo://resource/dynamic/text/1",
	// Every MCP Apps view named mcp-app.html of upstream apps, whichever
	// authority ("ui://<upstream>+<authority>/…", as the bridge serves
	// ui:// resources).
	"ui://apps+*/mcp-app.html",
}

// TestDecideResourceCanonical: a URI in canonical form is decided as
// written; any other spelling is denied, whoever asks, with the reason.
func TestDecideResourceCanonical(t *testing.T) {
	p := uriTestPolicy(t)
	alice, bob := user("alice@example.com"), user("bob@example.com")
	tests := []struct {
		name    string
		uri     string
		problem string // "" when canonical
		bob     bool   // bob may read it (when canonical)
	}{
		{name: "plain", uri: "every+demo://resource/static/document/architecture.md", bob: true},
		{name: "template", uri: "every+demo://resource/static/document/{name}", bob: true},
		{name: "reserved expansion template", uri: "files+file:///handbook/{+path}", bob: true},
		{name: "trailing slash", uri: "files+file:///handbook/", bob: true},
		{name: "query and fragment", uri: "files+file:///handbook/a?b=../c&d=./e#f", bob: true},
		{name: "encoded reserved and non-ASCII", uri: "files+file:///handbook/caf%C3%A9%20%3F%23.md", bob: true},
		{name: "three dots is a name", uri: "files+file:///handbook/.../x", bob: true},
		{name: "dotted names", uri: "files+file:///handbook/.hidden/..x/x../a.b", bob: true},
		{name: "no authority", uri: "every+urn:isbn:0451450523"},
		{name: "upstream name with a digit", uri: "1up+demo://x/y"},
		{name: "upper-case scheme is another string", uri: "every+DEMO://resource/static/document/a"},
		{name: "upper-case host is another string", uri: "files+file://LOCALHOST/handbook/a"},
		{name: "exact name", uri: "every+demo://resource/dynamic/text/1", bob: true},
		{name: "ui resource", uri: "ui://apps+get-time/mcp-app.html", bob: true},
		{name: "ui resource without authority", uri: "ui://apps+/mcp-app.html", bob: true},
		{name: "ui authority with dots in a name", uri: "ui://apps+a..b/mcp-app.html", bob: true},
		{name: "ui authority holding +", uri: "ui://apps+a+b/mcp-app.html", bob: true},
		{name: "ui resource, other file", uri: "ui://apps+get-time/other.html"},

		{name: "..", uri: "every+demo://resource/static/document/../../dynamic/text/2", problem: "dot segment"},
		{name: ".", uri: "every+demo://resource/static/document/./a", problem: "dot segment"},
		{name: "trailing ..", uri: "files+file:///handbook/..", problem: "dot segment"},
		{name: "trailing .", uri: "files+file:///handbook/.", problem: "dot segment"},
		{name: ".. in the authority", uri: "files+file://../etc/passwd", problem: "dot segment"},
		{name: ".. without authority", uri: "every+demo:a/../b", problem: "dot segment"},
		{name: ".. in the query", uri: "files+file:///handbook/x?/../../etc/passwd", problem: "dot segment"},
		{name: ".. right after ?", uri: "files+file:///handbook/x?..", problem: "dot segment"},
		{name: ".. in the fragment", uri: "files+file:///handbook/x#/../../etc/passwd", problem: "dot segment"},
		{name: "..; parameters", uri: "files+file:///handbook/..;x/etc", problem: "dot segment"},
		{name: "..%3B parameters", uri: "files+file:///handbook/..%3B/etc", problem: "dot segment"},
		{name: "%2e%2e", uri: "files+file:///handbook/%2e%2e/etc", problem: "percent-encoded unreserved character %2e"},
		{name: "%2E%2E", uri: "files+file:///handbook/%2E%2E/etc", problem: "percent-encoded unreserved character %2E"},
		{name: ".%2e", uri: "files+file:///handbook/.%2e/etc", problem: "percent-encoded unreserved character %2e"},
		{name: "%2e.", uri: "files+file:///handbook/%2e./etc", problem: "percent-encoded unreserved character %2e"},
		{name: "%41", uri: "files+file:///handbook/%41", problem: "percent-encoded unreserved character %41"},
		{name: "%7e", uri: "files+file:///handbook/%7euser", problem: "percent-encoded unreserved character %7e"},
		{name: "%2f", uri: "files+file:///handbook/..%2fetc", problem: "percent-encoded %2f"},
		{name: "%2F", uri: "files+file:///handbook/..%2Fetc", problem: "percent-encoded %2F"},
		{name: "%5c", uri: "files+file:///handbook/..%5cetc", problem: "percent-encoded %5c"},
		{name: "%25 (double encoding)", uri: "files+file:///handbook/%252e%252e/etc", problem: "percent-encoded %25"},
		{name: "%00", uri: "files+file:///handbook/a%00.md", problem: "percent-encoded control character %00"},
		{name: "%7F", uri: "files+file:///handbook/a%7F", problem: "percent-encoded control character %7F"},
		{name: "malformed %", uri: "files+file:///handbook/100%", problem: "malformed percent-encoding"},
		{name: "malformed %zz", uri: "files+file:///handbook/%zz", problem: "malformed percent-encoding"},
		{name: "backslash", uri: `files+file:///handbook/..\etc\passwd`, problem: "backslash"},
		{name: "doubled slash", uri: "files+file:///handbook//../etc", problem: "dot segment"},
		{name: "doubled slash alone", uri: "files+file:///handbook//etc", problem: "empty path segment"},
		{name: "empty authority then //", uri: "files+file:////etc/passwd", problem: "empty path segment"},
		{name: "trailing //", uri: "files+file:///handbook//", problem: "empty path segment"},
		{name: ".. as the ui authority", uri: "ui://apps+../mcp-app.html", problem: "dot segment"},
		{name: ". as the ui authority", uri: "ui://apps+./mcp-app.html", problem: "dot segment"},
		{name: "..; as the ui authority", uri: "ui://apps+..;x/mcp-app.html", problem: "dot segment"},
		{name: ".. as the whole ui rest", uri: "ui://apps+..", problem: "dot segment"},
		{name: ".. after a later + in the authority", uri: "ui://apps+a+../mcp-app.html", problem: "dot segment"},
		{name: ".. before + in the authority", uri: "files+file://..+x/etc", problem: "dot segment"},
		{name: "no scheme", uri: "every+../x", problem: "no scheme"},
		{name: "no colon", uri: "docs+x", problem: "no scheme"},
		{name: "empty scheme part", uri: "every++demo://x", problem: "no scheme"},
		{name: "dot scheme part", uri: "every+..:/x", problem: "no scheme"},
		{name: "scheme ends in +", uri: "every+:/x", problem: "no scheme"},
		{name: "leading colon", uri: ":x", problem: "no scheme"},
		{name: "slash before colon", uri: "every/x:y", problem: "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uriProblem(tt.uri); !strings.HasPrefix(got, tt.problem) || (tt.problem == "") != (got == "") {
				t.Fatalf("uriProblem(%q) = %q, want %q", tt.uri, got, tt.problem)
			}
			a, b := p.DecideResource(alice, tt.uri), p.DecideResource(bob, tt.uri)
			if tt.problem != "" {
				for _, d := range []Decision{a, b} {
					if d.Allow || !strings.HasPrefix(d.Reason, canonicalReason+tt.problem) {
						t.Errorf("%q: %+v, want a denial for %q", tt.uri, d, tt.problem)
					}
				}
				return
			}
			if !a.Allow || b.Allow != tt.bob {
				t.Errorf("%q: alice %+v, bob %+v (want bob %v)", tt.uri, a, b, tt.bob)
			}
		})
	}
}

// TestResolvedURIsStayInPolicy tries every spelling made of up to four
// pieces (dot segments in every encoding, separators, doubled and encoded
// slashes, backslashes, a query, a fragment, parameters) after each of
// bob's prefixes: whatever DecideResource allows must resolve, on a WHATWG
// URL parser and on a filesystem-style resolver, to a URI bob's patterns
// allow.
func TestResolvedURIsStayInPolicy(t *testing.T) {
	p := uriTestPolicy(t)
	bob := user("bob@example.com")
	pieces := []string{"..", ".", "%2e", "%2E", ".%2e", "/", "//", `\`, "%2f", "%5c", "%25", "?", "#", ";", "x", "%3b"}
	var n, allowed int
	var walk func(suffix string, depth int)
	walk = func(suffix string, depth int) {
		for _, base := range []string{"every+demo://resource/static/document/", "files+file:///handbook/", "files+file:///handbook", "every+demo://resource/dynamic/text/1"} {
			n++
			if checkResolved(t, p, bob, base+suffix) {
				allowed++
			}
		}
		// The pieces as (or in) the authority of an MCP Apps resource.
		n++
		if checkResolved(t, p, bob, "ui://apps+"+suffix+"/mcp-app.html") {
			allowed++
		}
		if depth == 4 {
			return
		}
		for _, pc := range pieces {
			walk(suffix+pc, depth+1)
		}
	}
	walk("", 0)
	if allowed == 0 || allowed == n {
		t.Fatalf("%d of %d spellings allowed: the check proves nothing", allowed, n)
	}
	t.Logf("%d spellings, %d allowed, all resolving inside the patterns", n, allowed)
}

// FuzzResourceURI: for any URI, if DecideResource allows it, what a WHATWG
// URL parser and a filesystem-style resolver make of it is allowed by the
// caller's patterns too; and a WHATWG parser leaves it as it is (the URI
// decided is the URI resolved).
//
// go test ./internal/acl -run '^$' -fuzz FuzzResourceURI
func FuzzResourceURI(f *testing.F) {
	for _, seed := range []string{
		"every+demo://resource/static/document/../../dynamic/text/1",
		"every+demo://resource/static/document/%2e%2e/%2E%2E/dynamic/text/1",
		"every+demo://resource/static/document/x/../../../dynamic/text/1",
		"files+file:///handbook/..%2f..%2fetc/passwd",
		`files+file:///handbook/..\..\etc\passwd`,
		"files+file:///handbook//../secret/plans.md",
		"files+file:///handbook/x?/../../etc/passwd",
		"files+file:///handbook/%252e%252e/etc/passwd",
		"files+file:///handbook/intro.md",
		"every+demo://resource/static/document/architecture.md",
		"every+demo://resource/dynamic/text/1/..",
		"ui://apps+get-time/mcp-app.html",
		"ui://apps+../mcp-app.html",
		"ui://apps+x/../mcp-app.html",
	} {
		f.Add(seed)
	}
	p := uriTestPolicy(f)
	bob := user("bob@example.com")
	f.Fuzz(func(t *testing.T, uri string) {
		checkResolved(t, p, bob, uri)
	})
}

// checkResolved fails t when id may read uri but a resolver takes it
// outside id's patterns (bobResourcePatterns), or a WHATWG parser changes
// it. It reports whether id may read uri.
func checkResolved(t *testing.T, p *Policy, id *identity.Identity, uri string) bool {
	t.Helper()
	if !p.DecideResource(id, uri).Allow {
		return false
	}
	// The bridge's served forms: "<upstream>+<orig>", and
	// "ui://<upstream>+<rest>" for orig "ui://<rest>".
	served := func(name, orig string) string { return name + "+" + orig }
	name, orig, _ := strings.Cut(uri, "+")
	if rest, ok := strings.CutPrefix(uri, "ui://"); ok {
		name, orig, _ = strings.Cut(rest, "+")
		orig = "ui://" + orig
		served = func(name, orig string) string {
			if r, ok := strings.CutPrefix(orig, "ui://"); ok {
				return "ui://" + name + "+" + r
			}
			return name + "+" + orig
		}
	}
	inPolicy := func(resolved string) bool {
		for _, pat := range bobResourcePatterns {
			if matchGlob(pat, served(name, resolved)) {
				return true
			}
		}
		return false
	}
	if w := whatwgResolve(orig); w != orig || !inPolicy(w) {
		t.Fatalf("%q is allowed; a WHATWG parser reads %q", uri, w)
	}
	if fs, ok := fileResolve(orig); ok && !inPolicy(fs) {
		t.Fatalf("%q is allowed; a filesystem-style resolver reads %q", uri, fs)
	}
	if fs, ok := uiFileResolve(orig); ok && !inPolicy(fs) {
		t.Fatalf("%q is allowed; an Apps server serving ui:// from a directory reads %q", uri, fs)
	}
	return true
}

// uiFileResolve is what a careless MCP Apps server that serves
// "ui://<rest>" as the file <dir>/<rest> makes of uri (resolved as
// CarelessFilePath does), as a ui:// URI: "ui://<resolved>", or
// "ui:///<resolved>" for a rest that starts with "/" (no authority); ok is
// false for a URI that is not ui://.
func uiFileResolve(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "ui://")
	if !ok {
		return "", false
	}
	p, _ := testutil.CarelessFilePath("file:///" + rest)
	if !strings.HasPrefix(rest, "/") {
		p = strings.TrimPrefix(p, "/")
	}
	return "ui://" + p, true
}

// whatwgResolve is what a WHATWG URL parser makes of uri's path, taken
// pessimistically: "\" is a separator (as in file: and http: URLs), and
// ".", "%2e", "..", ".%2e", "%2e." and "%2e%2e" in any case are dot
// segments, removed as the URL standard's path parser does. The scheme
// is lower-cased; authority, query and fragment are kept.
func whatwgResolve(uri string) string {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return uri
	}
	prefix := strings.ToLower(scheme) + ":"
	if strings.HasPrefix(rest, "//") {
		end := strings.IndexAny(rest[2:], `/\?#`)
		if end < 0 {
			return prefix + rest
		}
		prefix += rest[:2+end]
		rest = rest[2+end:]
	}
	tail := ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest, tail = rest[:i], rest[i:]
	}
	if rest == "" {
		return prefix + tail
	}
	segs := strings.Split(strings.ReplaceAll(rest, `\`, "/"), "/")
	absolute := segs[0] == ""
	if absolute {
		segs = segs[1:]
	}
	var out []string
	for i, s := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(s) {
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	p := strings.Join(out, "/")
	if absolute {
		p = "/" + p
	}
	return prefix + p + tail
}

// fileResolve is what a careless filesystem server makes of a file: URI
// (testutil.CarelessFilePath); ok is false for a URI that is not file:.
func fileResolve(uri string) (string, bool) {
	p, ok := testutil.CarelessFilePath(uri)
	return "file://" + p, ok
}

// TestCanonicalCheckDoesNotAllocate: the check runs on every resource
// decision, listed URIs included; a canonical URI costs no allocation.
func TestCanonicalCheckDoesNotAllocate(t *testing.T) {
	uri := "every+demo://resource/static/document/caf%C3%A9.md;v=1?x=../y#z"
	if n := testing.AllocsPerRun(1000, func() { _ = uriProblem(uri) }); n != 0 {
		t.Fatalf("uriProblem allocates %v times per call", n)
	}
}
