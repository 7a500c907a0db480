package upstream

import (
	"context"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

func TestReferenceServerEverything(t *testing.T) {
	bin := testutil.EverythingBin(t)
	h := newHarness(t, []config.Upstream{{Name: "ev", Command: []string{bin}}}, testOptions())
	echo := h.tool("ev__echo")
	if !strings.Contains(string(echo.Tool.RawInputSchema), `"message"`) {
		t.Errorf("ev__echo input schema %s lacks the message property", echo.Tool.RawInputSchema)
	}
	res := h.call(context.Background(), "ev__echo", map[string]any{"message": "hello from tsmcp"})
	if res.IsError || !strings.Contains(resultText(res), "hello from tsmcp") {
		t.Fatalf("ev__echo = %q (isError %v)", resultText(res), res.IsError)
	}
}
