package main

import (
	"fmt"
	"slices"
	"time"
)

// latencies is a sample of call latencies.
type latencies []time.Duration

// percentile returns the p-th percentile (0 < p <= 100) of the sample by
// the nearest-rank method: the smallest value such that at least p% of the
// sample is at or below it. It sorts l in place; an empty sample gives 0.
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	if !slices.IsSorted(l) {
		slices.Sort(l)
	}
	rank := int(float64(len(l))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(l)-1))
	return l[rank]
}

// median returns the median of ds (the lower middle value for an even
// count), without modifying ds. An empty slice gives 0.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// fmtDur renders a latency with three significant digits in the most
// readable unit: 87.3µs, 1.24ms, 2.51s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	default:
		return sig3(float64(d)/float64(time.Second)) + "s"
	}
}

// sig3 renders v with three significant digits (no exponent).
func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtRatio renders a/b as "1.23x"; "n/a" when either is not positive.
func fmtRatio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// fmtOverhead renders a over b as a signed percentage: "+7.5%"; "n/a" when
// either is not positive.
func fmtOverhead(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", (a/b-1)*100)
}

// fmtBytes renders a byte count in binary units: 512 B, 27.4 KiB, 1.20 MiB.
func fmtBytes(b float64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	switch {
	case b < 1024:
		return fmt.Sprintf("%s%.0f B", neg, b)
	case b < 1<<20:
		return neg + sig3(b/1024) + " KiB"
	case b < 1<<30:
		return neg + sig3(b/(1<<20)) + " MiB"
	default:
		return neg + sig3(b/(1<<30)) + " GiB"
	}
}
