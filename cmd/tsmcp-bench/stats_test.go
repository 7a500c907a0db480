package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, 1 * time.Millisecond},
	} {
		if got := l.percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := (latencies{}).percentile(50); got != 0 {
		t.Errorf("empty p50 = %v, want 0", got)
	}
	one := latencies{7 * time.Microsecond}
	if got := one.percentile(99); got != 7*time.Microsecond {
		t.Errorf("single p99 = %v", got)
	}
}

func TestMedian(t *testing.T) {
	ds := []time.Duration{5, 1, 3, 2}
	if got := median(ds); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if ds[0] != 5 {
		t.Error("median modified its input")
	}
	if got := median([]time.Duration{9, 1, 4}); got != 4 {
		t.Errorf("median = %v, want 4", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtDur(87300 * time.Nanosecond), "87.3µs"},
		{fmtDur(1240 * time.Microsecond), "1.24ms"},
		{fmtDur(2510 * time.Millisecond), "2.51s"},
		{fmtDur(0), "0"},
		{fmtRatio(3, 2), "1.50x"},
		{fmtRatio(3, 0), "n/a"},
		{fmtOverhead(1.075, 1), "+7.5%"},
		{fmtOverhead(0.9, 1), "-10.0%"},
		{fmtBytes(512), "512 B"},
		{fmtBytes(28057.6), "27.4 KiB"},
		{fmtBytes(-2048), "-2.00 KiB"},
		{fmtBytes(1.2 * (1 << 20)), "1.20 MiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	tb := newTable("kind", "p50")
	tb.add("a|b", "1ms")
	tb.add("short")
	want := "| kind | p50 |\n|---|---:|\n| a\\|b | 1ms |\n| short |  |\n"
	if got := tb.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	tb.leftAll = true
	if got := tb.String(); !strings.Contains(got, "|---|---|\n") {
		t.Errorf("leftAll table:\n%s", got)
	}
}

func TestSpliceGenerated(t *testing.T) {
	old := "# Title\n\nintro\n\n" + beginMarker + "\nold numbers\n" + endMarker + "\n\n## Findings\nkept\n"
	got := spliceGenerated(old, "new numbers\n")
	if !strings.Contains(got, "new numbers") || strings.Contains(got, "old numbers") {
		t.Errorf("generated part not replaced:\n%s", got)
	}
	if !strings.HasPrefix(got, "# Title\n\nintro\n") || !strings.HasSuffix(got, "## Findings\nkept\n") {
		t.Errorf("hand-written parts not kept:\n%s", got)
	}
	fresh := spliceGenerated("", "numbers\n")
	if !strings.Contains(fresh, beginMarker) || !strings.Contains(fresh, endMarker) || !strings.Contains(fresh, "numbers") {
		t.Errorf("fresh document lacks markers:\n%s", fresh)
	}
}
