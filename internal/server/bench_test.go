package server_test

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkWhoamiOverTailnet measures one tools/call whoami end to end:
// the go-sdk client on alice's tsnet node, the userspace network stack,
// WhoIs, the policy, the audit line and the handler.
func BenchmarkWhoamiOverTailnet(b *testing.B) {
	tn, err := sharedTailnet()
	if err != nil {
		b.Fatal(err)
	}
	for _, lib := range clientLibs {
		b.Run(lib.name, func(b *testing.B) {
			ctx := context.Background()
			s := lib.connect(ctx, b, tn.callers()[0], tn.hostURL)
			defer s.close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.whoami(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefusedOversizedBody measures how cheaply a 413 is given.
func BenchmarkRefusedOversizedBody(b *testing.B) {
	tn, err := sharedTailnet()
	if err != nil {
		b.Fatal(err)
	}
	hc := tn.callers()[0].httpClient()
	body := strings.Repeat("x", 5<<20)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := hc.Post(tn.hostURL+"/mcp", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
