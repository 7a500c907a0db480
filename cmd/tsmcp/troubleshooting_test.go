package main

// TestTroubleshootingMessages keeps the messages docs/troubleshooting.md
// quotes true to what tsmcp writes, so that a reworded error or log line
// breaks the test until the page follows.
//
// Which backticked text is a message (the convention the page keeps):
//   - in a table whose first header cell is "message", "hint" or "what the
//     client sees", every code span of the first column;
//   - in a bullet list, the code spans a bullet opens with, when the text
//     before its first ":" outside code is only code spans joined by
//     ",", "or" and "then" ("- `message`, or `… other message`: what to
//     do").
//
// Any other code span (a key, a flag, a command, a path in prose) is not
// checked here.
//
// A message exists in the code when it is covered by the text of string
// literals of the non-test Go source under cmd/ and internal/ (format
// verbs such as %s and %q split a literal into pieces), except for the
// parts a message shows as an example value: a "…" on the page stands for
// any text, and what no literal covers must be one word or number
// (tailnet.hostnme, 20, disk_usage) or a "quoted" value. Text that
// tsmcp passes on from a library is listed in foreignText.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// foreignText is text the troubleshooting page quotes that tsmcp passes
// on from a library, with where it comes from.
var foreignText = map[string]string{
	"invalid authkey":    "tailscale.com's control client, in the last error of a join",
	"dial tcp":           "Go's net package, in the last error of a join",
	"connection refused": "the operating system, in the last error of a join",
	"Forbidden":          "net/http.StatusText(403), the body of a refusal",
}

// messageHeaders are the first header cells of the tables whose first
// column quotes messages.
var messageHeaders = []string{"message", "hint", "what the client sees"}

func TestTroubleshootingMessages(t *testing.T) {
	doc := testutil.ReadDoc(t, "troubleshooting.md")
	pieces := literalPieces(t)
	for f := range foreignText {
		pieces = append(pieces, f)
	}

	type quote struct{ section, msg string }
	var quotes []quote
	for section, text := range doc.Sections {
		for _, tb := range doc.Tables[section] {
			if len(tb.Header) == 0 || !slices.Contains(messageHeaders, tb.Header[0]) {
				continue
			}
			for _, r := range tb.Rows {
				for _, m := range testutil.CodeSpans(r[0]) {
					quotes = append(quotes, quote{section, m})
				}
			}
		}
		for _, item := range testutil.Bullets(text) {
			for _, m := range messageBullet(item) {
				quotes = append(quotes, quote{section, m})
			}
		}
	}
	if len(quotes) < 20 {
		t.Fatalf("%s: found only %d quoted messages; did the page's tables or bullets change shape?", doc.Path, len(quotes))
	}
	for _, q := range quotes {
		msg := strings.TrimSpace(spaceRE.ReplaceAllString(q.msg, " "))
		if bad := uncovered(msg, pieces); len(bad) > 0 {
			t.Errorf("%s, %q: the quoted message `%s` is not one tsmcp writes: no string literal of cmd/ or internal/ has %q (reword the page as the code now says, or write … for the part that varies)", doc.Path, "## "+q.section, msg, bad)
		}
	}
}

// messageBullet returns the messages a bullet item opens with, or none
// when it does not open with messages (see the convention above).
func messageBullet(item string) []string {
	if !strings.HasPrefix(item, "`") {
		return nil
	}
	spans := testutil.LeadSpans(item)
	rest := item
	for _, s := range spans {
		rest = strings.Replace(rest, "`"+s+"`", " ", 1)
	}
	lead, _, ok := strings.Cut(rest, ":")
	if !ok {
		return nil
	}
	for _, w := range strings.Fields(strings.ReplaceAll(lead, ",", " ")) {
		if w != "or" && w != "then" {
			return nil
		}
	}
	return spans
}

// spaceRE matches a run of white space, which counts as one space.
var spaceRE = regexp.MustCompile(`\s+`)

// verbRE matches a fmt verb, which splits a literal into pieces.
var verbRE = regexp.MustCompile(`%[-+# 0]*(\[\d+\])?[0-9*]*(\.[0-9*]+)?[a-zA-Z%]`)

// literalPieces returns the text of every string literal of the non-test
// Go source under cmd/ and internal/, split at fmt verbs, with runs of
// white space collapsed; pieces shorter than 8 bytes with one word are
// left out.
func literalPieces(t *testing.T) []string {
	t.Helper()
	root := testutil.RepoRoot(t)
	seen := map[string]bool{}
	var out []string
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				for _, p := range verbRE.Split(s, -1) {
					p = spaceRE.ReplaceAllString(p, " ")
					// A piece of one short word ("or", "value") would
					// let a reworded message pass word by word;
					// punctuation ("): ") covers no word.
					keep := len(p) >= 8 || len(strings.Fields(p)) >= 2 || len(p) >= 2 && !strings.ContainsFunc(p, unicode.IsLetter)
					if keep && !seen[p] {
						seen[p] = true
						out = append(out, p)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// uncovered returns the parts of msg that no piece covers and that are
// not an example value (one word or number, or a "quoted" value); "…"
// stands for any text.
func uncovered(msg string, pieces []string) []string {
	covered := make([]bool, len(msg))
	mark := func(from, to int) {
		for i := from; i < to; i++ {
			covered[i] = true
		}
	}
	for i := 0; i < len(msg); {
		j := strings.Index(msg[i:], "…")
		if j < 0 {
			break
		}
		mark(i+j, i+j+len("…"))
		i += j + len("…")
	}
	for _, p := range pieces {
		for off := 0; ; {
			i := strings.Index(msg[off:], p)
			if i < 0 {
				break
			}
			mark(off+i, off+i+len(p))
			off += i + 1
		}
	}
	// Next to a "…" the page may quote part of a piece.
	segs := strings.Split(msg, "…")
	off := 0
	for k, seg := range segs {
		trimmed := strings.TrimSpace(seg)
		lead := off + strings.Index(seg, trimmed)
		if len(trimmed) < 5 || len(segs) == 1 {
			off += len(seg) + len("…")
			continue
		}
		for _, p := range pieces {
			if strings.Contains(p, trimmed) {
				mark(lead, lead+len(trimmed))
			}
			if k > 0 && strings.Contains(p, trimmed[:5]) { // a piece's end may open the segment
				if n := overlap(p, trimmed); n >= 5 {
					mark(lead, lead+n)
				}
			}
			if k < len(segs)-1 && strings.Contains(p, trimmed[len(trimmed)-5:]) { // a piece's start may end it
				if n := overlap(trimmed, p); n >= 5 {
					mark(lead+len(trimmed)-n, lead+len(trimmed))
				}
			}
		}
		off += len(seg) + len("…")
	}
	var bad []string
	for i := 0; i < len(msg); {
		if covered[i] {
			i++
			continue
		}
		j := i
		for j < len(msg) && !covered[j] {
			j++
		}
		run := strings.Trim(msg[i:j], " .,;:()[]'")
		quoted := len(run) >= 2 && run[0] == '"' && run[len(run)-1] == '"'
		if run != "" && strings.Contains(run, " ") && !quoted {
			bad = append(bad, msg[i:j])
		}
		i = j
	}
	return bad
}

// overlap returns the length of the longest suffix of a that is a prefix
// of b.
func overlap(a, b string) int {
	for n := min(len(a), len(b)); n > 0; n-- {
		if strings.HasSuffix(a, b[:n]) {
			return n
		}
	}
	return 0
}
