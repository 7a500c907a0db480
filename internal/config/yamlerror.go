package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlSyntaxRE matches a go-yaml syntax error: "yaml: [line N: ]problem".
// Unmarshal errors ("yaml: unmarshal errors:\n  line N: …") span several
// lines and already carry right, 1-based lines.
var yamlSyntaxRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?([^\n]*)$`)

// yamlScanLines bounds how many lines past the reported one yamlLine
// tries; a problem further away keeps no line number rather than a
// wrong one.
const yamlScanLines = 2000

// yamlLine corrects the line of a go-yaml syntax error in doc. go-yaml
// (v3, as viper uses it) reports a parser error at the line where the
// enclosing construct (a block mapping, a flow sequence) starts, and
// counts it from 0, instead of at the problem: an over-indented key on
// line 4 is reported at line 3, a list left open on line 6 at line 5, a
// bad key on line 6 of a mapping that starts on line 4 at line 3 (see
// parser.fail in go.yaml.in/yaml/v3's decode.go: it prefers the context
// mark, and adds 1 only for scanner errors). The library exposes no
// position of its own, so the
// line is found by parsing: it is the first line L such that doc's first
// L lines fail with the very same error. That is the problem's line, or,
// for something left open (a list, a quote), the line that opened it. The
// true line is never before the reported one, so the search starts there.
func yamlLine(doc []byte, err error) error {
	m := yamlSyntaxRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	problem := m[2]
	start := 1
	if m[1] != "" {
		start, _ = strconv.Atoi(m[1])
		start = max(start, 1)
	}
	lines := bytes.SplitAfter(doc, []byte("\n"))
	for l := start; l <= len(lines) && l <= start+yamlScanLines; l++ {
		var v any
		perr := yaml.Unmarshal(bytes.Join(lines[:l], nil), &v)
		if perr != nil && perr.Error() == err.Error() {
			return fmt.Errorf("line %d: %s", l, problem)
		}
	}
	return errors.New(problem)
}

// isYAML reports whether format names YAML for viper.
func isYAML(format string) bool {
	f := strings.ToLower(format)
	return f == "yaml" || f == "yml"
}
