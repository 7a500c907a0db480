package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tsmcp/tsmcp/internal/packages"
)

// envPrefix starts every variable that configures tsmcp.
const envPrefix = "TSMCP_"

// serviceLinkRE matches the variables Kubernetes injects into a pod for a
// Service whose name starts with "tsmcp" (service links:
// TSMCP_SERVICE_HOST, TSMCP_SERVICE_PORT[_<port name>], TSMCP_PORT,
// TSMCP_PORT_80_TCP[_PROTO|_PORT|_ADDR], and the same after
// TSMCP_<REST>_ for a Service named tsmcp-<rest>). They configure
// nothing and must never stop a pod.
var serviceLinkRE = regexp.MustCompile(`^TSMCP(_[A-Z0-9_]+?)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)

// otherEnv are TSMCP_ variables that are not config keys but are read by
// tsmcp (the package root) or set by it for its children (the caller
// variables), and so are not typos.
var otherEnv = []string{
	packages.RootEnv,
	"TSMCP_CALLER_LOGIN", "TSMCP_CALLER_NODE", "TSMCP_CALLER_TAGS",
}

// checkEnv returns an error naming every non-empty TSMCP_ variable of
// environ ("NAME=value" pairs) that configures nothing: a typo would
// otherwise be ignored silently. Kubernetes service-link variables are
// recognised and allowed.
func checkEnv(environ []string) error {
	known := EnvVars()
	known = append(known, otherEnv...)
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || value == "" ||
			slices.Contains(known, name) || serviceLinkRE.MatchString(name) {
			continue
		}
		msg := fmt.Sprintf("%s: environment variable matches no config key", name)
		if near := nearest(name, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		errs = append(errs, errors.New(msg))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// nearest returns the candidate closest to name by edit distance, if it
// is close enough to be a likely typo.
func nearest(name string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
