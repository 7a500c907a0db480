package main

import (
	"strings"
)

// table is a markdown table under construction.
type table struct {
	header []string
	rows   [][]string
	// leftAll left-aligns every column (for tables of text).
	leftAll bool
}

// newTable starts a table with the given column headers.
func newTable(header ...string) *table { return &table{header: header} }

// add appends a row; missing cells are left empty, extra cells dropped.
func (t *table) add(cells ...string) {
	row := make([]string, len(t.header))
	copy(row, cells)
	t.rows = append(t.rows, row)
}

// String renders the table as GitHub-flavoured markdown. Pipes inside
// cells are escaped; the first column is left-aligned, the others
// right-aligned (they hold numbers).
func (t *table) String() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" ")
			b.WriteString(strings.ReplaceAll(c, "|", `\|`))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(t.header)
	b.WriteString("|")
	for i := range t.header {
		if i == 0 || t.leftAll {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}
