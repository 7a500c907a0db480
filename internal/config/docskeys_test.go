package config

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// notConfigKeys are dotted names the pages quote that look like config
// keys but are not: OpenTelemetry span attributes (internal/server's and
// internal/upstream's spans), a JSON-RPC error's field, and a host name.
var notConfigKeys = []string{
	"mcp.method.name", "mcp.protocol.version", "mcp.resource.uri", "mcp.session.id",
	"data.uri", "log.tailscale.com",
}

// keyInCode matches a code span that starts with a config key of a plain
// section, or a glob of keys ("mcp.limits.upstream_*"), followed by its
// end, a colon or a space.
var keyInCode = regexp.MustCompile("`((?:tailnet|mcp|health|log|data|acl|secrets)(?:\\.[a-z_*]+)+)(?:[:\\s][^`]*)?`")

// envInText matches a TSMCP_ variable, or a family of them ("TSMCP_CALLER_*").
var envInText = regexp.MustCompile(`TSMCP_[A-Z0-9_]*[A-Z0-9]_?`)

// envOK reports whether checkEnv lets the variable v through, or, for a
// family ("TSMCP_CALLER_", "TSMCP_PORT_"), one of its members.
func envOK(v string) bool {
	if !strings.HasSuffix(v, "_") {
		return checkEnv([]string{v + "=1"}) == nil
	}
	for _, known := range append(EnvVars(), otherEnv...) {
		if strings.HasPrefix(known, v) {
			return true
		}
	}
	return serviceLinkRE.MatchString(v + "80_TCP")
}

// TestDocsNameRealKeys keeps every page true about configuration, not only
// docs/configuration.md's tables: each config key a page (README.md and
// docs/*.md) quotes is a key Load accepts, or a section or glob of them,
// and each TSMCP_ variable it names is one Load reads or allows (see
// checkEnv). Error messages quoted for their typo ("did you mean …") are
// the exception, as are the dotted names in notConfigKeys.
func TestDocsNameRealKeys(t *testing.T) {
	root := testutil.RepoRoot(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs pages: %v", err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	var keys []string
	for _, k := range configKeys {
		keys = append(keys, k.key)
	}
	// keyOK: a key, a section holding keys, or a glob matching one.
	keyOK := func(k string) bool {
		if slices.Contains(keys, k) || slices.Contains(notConfigKeys, k) {
			return true
		}
		for _, have := range keys {
			if strings.HasPrefix(have, k+".") {
				return true
			}
			if strings.Contains(k, "*") {
				if ok, _ := path.Match(strings.ReplaceAll(k, ".", "/"), strings.ReplaceAll(have, ".", "/")); ok {
					return true
				}
			}
		}
		return false
	}
	checked := 0
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, p)
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "did you mean") {
				continue // an error message quoted for its typo
			}
			for _, m := range keyInCode.FindAllStringSubmatch(line, -1) {
				checked++
				if !keyOK(m[1]) {
					t.Errorf("%s:%d: `%s` is not a config key (nor a section or glob of keys); fix the page or add the key", name, i+1, m[1])
				}
			}
			for _, v := range envInText.FindAllString(line, -1) {
				checked++
				if !envOK(v) {
					t.Errorf("%s:%d: %s is not a variable tsmcp reads or allows (see checkEnv)", name, i+1, v)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d keys and variables found in the pages: the patterns no longer see them", checked)
	}
}
