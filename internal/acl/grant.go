package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"tailscale.com/tailcfg"
)

// decodedGrant is one grant value, decoded: its valid patterns per kind,
// or why it could not be decoded.
type decodedGrant struct {
	patterns [numKinds][]string
	err      error
}

// grant decodes one raw grant value, from the cache when possible.
func (p *Policy) grant(raw tailcfg.RawMessage) *decodedGrant {
	return p.grants.get(raw, maxCachedGrants, func() *decodedGrant { return decodeGrant(raw) })
}

// decodeGrant decodes one raw grant value strictly (see parseGrant). An
// invalid pattern inside a well-formed grant matches nothing; the rest of
// the grant still counts.
func decodeGrant(raw tailcfg.RawMessage) *decodedGrant {
	g := &decodedGrant{}
	gr, err := parseGrant([]byte(raw))
	if err != nil {
		g.err = err
		return g
	}
	for _, k := range kinds {
		for _, pat := range gr.patterns(k) {
			if k.validPattern(pat) {
				g.patterns[k] = append(g.patterns[k], pat)
			}
		}
	}
	return g
}

// patterns returns the grant's patterns of kind k.
func (g *Grant) patterns(k Kind) []string {
	switch k {
	case KindTool:
		return g.Tools
	case KindPrompt:
		return g.Prompts
	case KindResource:
		return g.Resources
	}
	return nil
}

// maxGrantBytes bounds one grant value; the tailnet policy file is small.
const maxGrantBytes = 1 << 20

// parseGrant decodes one grant value as a reviewer reads it: a JSON object
// whose keys are exactly "tools", "prompts" or "resources" (case-sensitive,
// each at most once), each holding an array of strings, and nothing after
// it. Go's encoding/json alone would match keys case-insensitively, keep
// the last of duplicate keys and ignore unknown ones, so that
// {"tools":["whoami"],"TOOLS":["*"]} would grant everything while a
// reviewer reads whoami.
func parseGrant(raw []byte) (Grant, error) {
	var g Grant
	if len(raw) > maxGrantBytes {
		return g, fmt.Errorf("grant is %d bytes (at most %d)", len(raw), maxGrantBytes)
	}
	if !utf8.Valid(raw) {
		return g, errors.New("grant is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return g, errors.New("grant is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return g, fmt.Errorf("grant: %w", err)
		}
		key, _ := tok.(string)
		var dst *[]string
		switch key {
		case "tools":
			dst = &g.Tools
		case "prompts":
			dst = &g.Prompts
		case "resources":
			dst = &g.Resources
		default:
			return g, fmt.Errorf("grant has unknown key %q (want tools, prompts or resources, lower-case)", truncate(key, 64))
		}
		if seen[key] {
			return g, fmt.Errorf("grant has key %q twice", key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return g, fmt.Errorf("grant: %s: %w", key, err)
		}
		if len(val) == 0 || val[0] != '[' {
			return g, fmt.Errorf("grant: %s is not a list of strings", key)
		}
		if err := json.Unmarshal(val, dst); err != nil {
			return g, fmt.Errorf("grant: %s is not a list of strings", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return g, fmt.Errorf("grant: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return g, errors.New("grant has data after its object")
	}
	return g, nil
}

// truncate returns s cut to at most n bytes, for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
