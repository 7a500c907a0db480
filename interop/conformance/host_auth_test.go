package conformance

import "testing"

// hostAuthGaps are the client authorization scenarios tsmcp's host (run by
// interop/conformance/auth-client) is known to fail, with why. Issue 24
// allows at most one.
var hostAuthGaps = map[string]string{
	// The check is a warning (SHOULD), which this test counts as a
	// failure. The suite expects the client_id
	// https://conformance-test.local/client-metadata.json; the library
	// passes it (oauth.Config.ClientMetadataURL, TestAuthClientConformance),
	// but the host has no setting for the URL of a Client ID Metadata
	// Document: the document must be served at a public HTTPS URL the
	// authorization server can fetch, which a host on the tailnet is not,
	// so the host registers dynamically instead.
	"auth/basic-cimd": "the host has no Client ID Metadata Document URL (none is configurable); it uses dynamic registration",
}

// hostAuthTimeout is the suite's per-scenario limit for auth-client, in
// milliseconds: each scenario starts a playground (an in-process tailnet,
// the host and three nodes), and the suite runs the scenarios at once.
const hostAuthTimeout = "120000"

// TestHostAuthConformance runs the official conformance suite's client
// authorization scenarios (`conformance client --suite auth
// --spec-version 2025-11-25`) against tsmcp's host itself: the command
// interop/conformance/auth-client starts `tsmcp dev`'s playground with
// the scenario's server bridged as an upstream with auth and plays alice
// through her own tailnet node (her MCP session, and her browser opening
// the connect link the host offers, to the host's /oauth/callback). Every
// scenario must pass as the suite's own summary counts it (no failed
// check and no warning), but for those in hostAuthGaps, and at most one
// may fail. It logs each scenario's result.
func TestHostAuthConformance(t *testing.T) {
	r, out := runAuthSuite(t, "./interop/conformance/auth-client", "tsmcp host", "--timeout", hostAuthTimeout)
	checkAuthRun(t, r, hostAuthGaps, "hostAuthGaps")
	if t.Failed() {
		t.Logf("--- suite output (last 32 KiB) ---\n%s", tail(out, 32<<10))
	}
}
