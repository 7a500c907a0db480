package conformance

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// check is one entry of a scenario's checks.json, as the suite writes it
// with --output-dir.
type check struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, INFO or SKIPPED
	ErrorMessage string `json:"errorMessage"`
	Description  string `json:"description"`
}

// scenario is the outcome of one scenario of one run.
type scenario struct {
	Name   string
	Checks []check
}

// count returns how many of the scenario's checks have status.
func (s scenario) count(status string) int {
	n := 0
	for _, c := range s.Checks {
		if c.Status == status {
			n++
		}
	}
	return n
}

// Passed reports whether the scenario passed as the suite's own summary
// says it (✓): none of its checks failed. Warnings (SHOULD requirements)
// do not fail a scenario.
func (s scenario) Passed() bool { return s.count("FAILURE") == 0 }

// cell is the scenario's entry in the results table: ✓ or ✗, the checks
// passed/failed, and the warnings if any.
func (s scenario) cell() string {
	if s.Name == "" {
		return "(no result)"
	}
	mark := "✓"
	if !s.Passed() {
		mark = "✗"
	}
	c := fmt.Sprintf("%s %d/%d", mark, s.count("SUCCESS"), s.count("FAILURE"))
	if w := s.count("WARNING"); w > 0 {
		c += fmt.Sprintf(" %dw", w)
	}
	return c
}

// failures describes the scenario's failed checks, one per line.
func (s scenario) failures() string {
	var b strings.Builder
	for _, c := range s.Checks {
		if c.Status == "FAILURE" {
			fmt.Fprintf(&b, "\n    %s: %s", c.ID, cmp.Or(c.ErrorMessage, c.Description))
		}
	}
	return b.String()
}

// run is the outcome of one `conformance server --suite all`, by scenario.
type run map[string]scenario

// resultDir matches the directory the suite writes a server scenario's
// checks.json in: server-<scenario>-<timestamp>.
var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$`)

// readRun reads the results the suite wrote to dir (its --output-dir).
func readRun(dir string) (run, error) { return readResults(dir, resultDir, "") }

// readResults reads the checks.json of each directory in dir whose name
// re matches, as the results of the scenario prefix+(re's first group).
func readResults(dir string, re *regexp.Regexp, prefix string) (run, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	r := run{}
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			return nil, err
		}
		s := scenario{Name: prefix + m[1]}
		if err := json.Unmarshal(b, &s.Checks); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if _, dup := r[s.Name]; dup {
			return nil, fmt.Errorf("%s: two results for scenario %s", dir, s.Name)
		}
		r[s.Name] = s
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("%s holds no scenario results", dir)
	}
	return r, nil
}

// totals counts the checks of every scenario of the run by status.
func (r run) totals() (passed, failed, warnings int) {
	for _, s := range r {
		passed += s.count("SUCCESS")
		failed += s.count("FAILURE")
		warnings += s.count("WARNING")
	}
	return
}

// logTable logs one row per scenario of the first run with each run's
// cell, then each run's totals.
func logTable(t *testing.T, heads []string, runs []run) {
	t.Helper()
	names := make([]string, 0, len(runs[0]))
	for n := range runs[0] {
		names = append(names, n)
	}
	slices.Sort(names)
	width := len("scenario")
	for _, n := range names {
		width = max(width, len(n))
	}
	var b strings.Builder
	row := func(first string, cells []string) {
		fmt.Fprintf(&b, "%-*s", width, first)
		for _, c := range cells {
			fmt.Fprintf(&b, "  %-14s", c)
		}
		b.WriteString("\n")
	}
	row("scenario", heads)
	for _, n := range names {
		cells := make([]string, len(runs))
		for i, r := range runs {
			cells[i] = r[n].cell()
		}
		row(n, cells)
	}
	totals := make([]string, len(runs))
	for i, r := range runs {
		p, f, w := r.totals()
		totals[i] = fmt.Sprintf("%d/%d %dw", p, f, w)
	}
	row("checks passed/failed", totals)
	t.Logf("conformance results (✓ passed, ✗ failed: checks passed/failed, w: warnings):\n%s", b.String())
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	return keys
}

// unexpected describes, one per line, the scenario's failed checks that
// known (check ID → gap; its name is list) does not excuse, and the checks
// it says always fail that now succeed (to be removed from list). Empty
// means the scenario is as expected.
func unexpected(s scenario, known map[string]gap, list string) string {
	var b strings.Builder
	for _, c := range s.Checks {
		g, excused := known[c.ID]
		switch {
		case c.Status == "FAILURE" && !excused:
			fmt.Fprintf(&b, "\n    %s: %s", c.ID, c.ErrorMessage)
		case c.Status == "SUCCESS" && excused && !g.sometimes:
			fmt.Fprintf(&b, "\n    %s now passes, but %s says it cannot (%s): remove it there", c.ID, list, g.why)
		}
	}
	return b.String()
}

// logDegraded logs the checks that succeed in base but end otherwise
// (a warning, information, skipped, absent) in other, of the scenarios
// that pass in both: what a passing scenario lost.
func logDegraded(t *testing.T, base, other run) {
	t.Helper()
	var b strings.Builder
	for _, name := range sortedKeys(base) {
		if !base[name].Passed() || !other[name].Passed() {
			continue
		}
		got := map[string]string{}
		for _, c := range other[name].Checks {
			got[c.ID] = c.Status
		}
		for _, c := range base[name].Checks {
			if st := got[c.ID]; c.Status == "SUCCESS" && st != "SUCCESS" && st != "FAILURE" {
				fmt.Fprintf(&b, "\n  %s: %s: %s", name, c.ID, cmp.Or(st, "(no such check)"))
			}
		}
	}
	if b.Len() > 0 {
		t.Logf("checks that pass directly and do not pass through tsmcp, of scenarios passing both ways:%s", b.String())
	}
}
