package config

import (
	"strings"

	"github.com/tsmcp/tsmcp/internal/packages"
)

// validateUpstreamKind checks that u sets exactly one of command, package
// and url, that a package reference is well formed, and that args go
// only with a package. Whether the package is baked into this image is a
// runtime fact, checked by `check` and `serve` (see cmd/tsmcp).
func validateUpstreamKind(p *problems, key string, u Upstream) {
	var set []string
	if len(u.Command) > 0 {
		set = append(set, "command")
	}
	if u.Package != "" {
		set = append(set, "package")
	}
	if u.URL != "" {
		set = append(set, "url")
	}
	switch len(set) {
	case 0:
		p.addf(key, "needs exactly one of command, package or url, has none")
	case 1:
	default:
		p.addf(key, "needs exactly one of command, package or url, has %s", strings.Join(set, " and "))
	}
	if u.Package != "" {
		if _, err := packages.Parse(u.Package); err != nil {
			p.addf(key+".package", "%v", err)
		}
	}
	if len(u.Args) > 0 && u.Package == "" {
		p.addf(key+".args", "only applies to a package upstream (a command carries its own arguments)")
	}
}
