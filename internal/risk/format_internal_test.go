package risk

import (
	"math"
	"testing"
	"time"
)

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		units int64
		code  string
		want  string
	}{
		{0, "USD", "0.00 USD"},
		{5, "USD", "0.05 USD"},
		{999_99, "USD", "999.99 USD"},
		{1_000_00, "USD", "1,000.00 USD"},
		{12_500_00, "USD", "12,500.00 USD"},
		{1_234_567, "JPY", "1,234,567 JPY"},
		{1_234_567, "BHD", "1,234.567 BHD"},
		{math.MaxInt64, "USD", "92,233,720,368,547,758.07 USD"},
		{-1_000_00, "USD", "-1,000.00 USD"},
		{1234, "ZZZ", `1234 minor units of "ZZZ"`},
	} {
		if got := formatAmount(tc.units, tc.code); got != tc.want {
			t.Errorf("formatAmount(%d, %q) = %q, want %q", tc.units, tc.code, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount, usual int64
		want          string
	}{
		{1, 1, "1.0x"},
		{25, 10, "2.5x"},
		{99, 10, "9.9x"},
		{100, 10, "10x"},
		{12_500_00, 500_00, "25x"},
		{math.MaxInt64, 1, "9223372036854775807x"},
		{math.MaxInt64, math.MaxInt64 - 1, "1.0x"},
		{math.MaxInt64 - 1, math.MaxInt64 / 2, "2.0x"},
	} {
		if got := ratio(tc.amount, tc.usual); got != tc.want {
			t.Errorf("ratio(%d, %d) = %q, want %q", tc.amount, tc.usual, got, tc.want)
		}
	}
}

func TestAtLeastPercent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount, usual int64
		percent       int
		want          bool
	}{
		{1000, 100, 1000, true},
		{999, 100, 1000, false},
		{math.MaxInt64, math.MaxInt64, 100, true},
		{math.MaxInt64, math.MaxInt64, 101, false},
		{math.MaxInt64, 1 << 62, 199, true},  // 2^63-1 >= 1.99 × 2^62
		{math.MaxInt64, 1 << 62, 200, false}, // 2^63-1 <  2 × 2^62
	} {
		if got := atLeastPercent(tc.amount, tc.usual, tc.percent); got != tc.want {
			t.Errorf("atLeastPercent(%d, %d, %d) = %t, want %t", tc.amount, tc.usual, tc.percent, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{499 * time.Millisecond, "0s"},
		{90 * time.Second, "1m30s"},
		{2 * time.Minute, "2m"},
		{10 * time.Minute, "10m"},
		{24 * time.Hour, "24h"},
		{3*time.Hour + 12*time.Minute, "3h12m"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{2*time.Minute + 300*time.Microsecond, "2m"},
	} {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		xs   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{300, 100, 200}, 200},
		{[]int64{100, 400, 200, 300}, 250},
		{[]int64{1, 2}, 1},
		{[]int64{math.MaxInt64, math.MaxInt64 - 1}, math.MaxInt64 - 1},
	} {
		if got := median(append([]int64(nil), tc.xs...)); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.xs, got, tc.want)
		}
	}
}
