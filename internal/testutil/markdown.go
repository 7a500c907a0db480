package testutil

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Doc is one page of docs/, split for the tests that keep it true.
type Doc struct {
	// Path is the page's path relative to the repository root, for
	// failure messages.
	Path string
	// Sections maps each "## " heading (without the "## ") to the text
	// under it up to the next "## " heading; "" holds what comes before
	// the first one.
	Sections map[string]string
	// Tables maps each "## " heading to the tables under it, in order.
	Tables map[string][]Table
}

// Table is one markdown table.
type Table struct {
	// Header is the header row's cells.
	Header []string
	// Rows are the body rows, each split into its cells (an escaped "\|"
	// stays inside its cell).
	Rows [][]string
}

// ReadDoc reads docs/<name> from the repository root.
func ReadDoc(t testing.TB, name string) *Doc {
	t.Helper()
	rel := filepath.Join("docs", name)
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	d := &Doc{Path: rel, Sections: map[string]string{}, Tables: map[string][]Table{}}
	var section string
	var table *Table
	inFence := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "## ") {
			section, table = strings.TrimPrefix(line, "## "), nil
			continue
		}
		d.Sections[section] += line + "\n"
		switch {
		case inFence:
		case strings.HasPrefix(line, "|") && table == nil: // the header row
			d.Tables[section] = append(d.Tables[section], Table{Header: SplitRow(line)})
			table = &d.Tables[section][len(d.Tables[section])-1]
		case strings.HasPrefix(line, "|"):
			cells := SplitRow(line)
			if len(cells) > 0 && strings.Trim(cells[0], "-: ") == "" {
				continue // the delimiter row
			}
			table.Rows = append(table.Rows, cells)
		default:
			table = nil
		}
	}
	return d
}

// Table returns the first table under "## "+section, failing the test
// when there is none.
func (d *Doc) Table(t testing.TB, section string) Table {
	t.Helper()
	if ts := d.Tables[section]; len(ts) > 0 {
		return ts[0]
	}
	t.Fatalf("%s has no table under %q", d.Path, "## "+section)
	return Table{}
}

// Section returns the text under "## "+section, failing the test when
// the page has no such heading.
func (d *Doc) Section(t testing.TB, section string) string {
	t.Helper()
	s, ok := d.Sections[section]
	if !ok {
		t.Fatalf("%s has no heading %q", d.Path, "## "+section)
	}
	return s
}

// Bullets returns the items of the top-level "- " lists of text, each
// with its continuation lines joined and every run of white space
// collapsed to one space.
func Bullets(text string) []string {
	var out []string
	var cur []string
	flush := func() {
		if cur != nil {
			out = append(out, strings.Join(strings.Fields(strings.Join(cur, " ")), " "))
			cur = nil
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		switch {
		case strings.HasPrefix(line, "- "):
			flush()
			cur = []string{strings.TrimPrefix(line, "- ")}
		case cur != nil && strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "":
			cur = append(cur, line)
		default:
			flush()
		}
	}
	flush()
	return out
}

// SplitRow splits a markdown table row into its trimmed cells; an escaped
// "\|" stays inside its cell.
func SplitRow(line string) []string {
	line = strings.ReplaceAll(strings.Trim(strings.TrimSpace(line), "|"), `\|`, "\x00")
	var cells []string
	for c := range strings.SplitSeq(line, "|") {
		cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
	}
	return cells
}

var codeSpanRE = regexp.MustCompile("`([^`]+)`")

// CodeSpans returns the text of each `code span` of s, in order.
func CodeSpans(s string) []string {
	var out []string
	for _, m := range codeSpanRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// LeadSpans returns the code spans a bullet item opens with: those before
// its first ":" outside code ("`/sse` + `/message`: the legacy ..." gives
// /sse and /message).
func LeadSpans(item string) []string {
	var out []string
	rest := item
	for {
		loc := codeSpanRE.FindStringSubmatchIndex(rest)
		colon := strings.Index(rest, ":")
		if loc == nil || colon >= 0 && colon < loc[0] {
			return out
		}
		out = append(out, rest[loc[2]:loc[3]])
		rest = rest[loc[1]:]
	}
}
