package upstream

import (
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
)

// TestStatusHistory: Status tells an upstream that has never come up from
// one that has (EverUp), and one still on its first attempt (Starting)
// from one whose first attempt failed.
func TestStatusHistory(t *testing.T) {
	hang := testUpstream(t, "hang")
	hang.Env[testServerEnv] = "hang"
	exits := testUpstream(t, "exits")
	exits.Env[testServerEnv] = "exit"
	h := newHarness(t, []config.Upstream{testUpstream(t, "good"), exits, hang}, testOptions())
	waitFor(t, "good up, exits failed", func() bool {
		return h.status("good").Up && h.status("exits").Detail != "" && h.status("exits").Detail != "starting"
	})
	for _, tc := range []struct {
		name             string
		everUp, starting bool
	}{
		{name: "good", everUp: true},
		{name: "exits"},
		{name: "hang", starting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := h.status(tc.name); s.EverUp != tc.everUp || s.Starting != tc.starting {
				t.Errorf("status = %+v, want EverUp %v, Starting %v", s, tc.everUp, tc.starting)
			}
		})
	}
	h.waitLog("upstream stderr") // the hung child runs; Close must still reap it
}
