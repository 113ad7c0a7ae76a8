package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultApprovals(t *testing.T) {
	p := Default()
	for _, tc := range []struct {
		kind, cur string
		amount    int64
		want      int
	}{
		{"cash", "USD", 1, 0},
		{"cash", "USD", 10_000_00, 0}, // at the threshold: auto
		{"cash", "USD", 10_000_01, 1},
		{"cash", "USD", 50_000_00, 1}, // at the dual threshold: one
		{"cash", "USD", 50_000_01, 2},
		{"cash", "JPY", 1_500_000, 0},
		{"cash", "JPY", 1_500_001, 1},
		{"cash", "SEK", 1, 1}, // no thresholds: always one
		{"shares", "USD", 1, 1},
	} {
		if got := p.Approvals(tc.kind, tc.cur, tc.amount); got != tc.want {
			t.Errorf("Approvals(%s, %s, %d) = %d, want %d", tc.kind, tc.cur, tc.amount, got, tc.want)
		}
	}
	if p.PendingTTL != 72*time.Hour {
		t.Errorf("pending TTL %v", p.PendingTTL)
	}
}

func TestDefaultStepUpAndLimits(t *testing.T) {
	p := Default()
	if p.NeedsStepUp("USD", 5_000_00) || !p.NeedsStepUp("USD", 5_000_01) || p.NeedsStepUp("SEK", 1<<40) {
		t.Error("step-up thresholds wrong")
	}
	if l := p.LimitsFor("standard", "USD"); l != (Limits{PerTransfer: 25_000_00, Daily: 50_000_00, Monthly: 200_000_00}) {
		t.Errorf("standard USD limits %+v", l)
	}
	if l := p.LimitsFor("premium", "USD"); l.Monthly != 2_000_000_00 {
		t.Errorf("premium USD limits %+v", l)
	}
	if l := p.LimitsFor("standard", "EUR"); l != (Limits{}) {
		t.Errorf("no EUR limits configured, got %+v", l)
	}
}

// The package comment's table states the defaults; keep them in step.
func TestDefaultsMatchTheDocumentation(t *testing.T) {
	for _, s := range []string{"USD:10000.00:50000.00", "standard:USD:25000.00:50000.00:200000.00", "premium:USD:250000.00:500000.00:2000000.00", "USD:5000.00"} {
		if !strings.Contains(DefaultApproval+DefaultLimits+DefaultStepUp, s) {
			t.Errorf("default %q changed: update the package comment", s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		approval, stepUp, limits string
		ttl                      time.Duration
		want                     string
	}{
		{approval: "USD:10", ttl: time.Hour, want: "3 fields"},
		{approval: "XYZ:1:2", ttl: time.Hour, want: "not a currency"},
		{approval: "USD:1.001:2", ttl: time.Hour, want: "USD"},
		{approval: "USD:5:4", ttl: time.Hour, want: "auto-approve maximum"},
		{approval: "USD:1:2,USD:1:2", ttl: time.Hour, want: "twice"},
		{stepUp: "USD:-1", ttl: time.Hour, want: "negative"},
		{limits: "Gold:USD:1:1:1", ttl: time.Hour, want: "tier"},
		{limits: "gold:USD:1:-1:1", ttl: time.Hour, want: "negative"},
		{want: "expiry"},
	} {
		_, err := Build(tc.approval, tc.stepUp, tc.limits, tc.ttl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%q, %q, %q, %v) = %v, want an error with %q", tc.approval, tc.stepUp, tc.limits, tc.ttl, err, tc.want)
		}
	}
	p, err := Build("", "", "", time.Hour)
	if err != nil || p.Approvals("cash", "USD", 1) != 1 || p.NeedsStepUp("USD", 1<<40) {
		t.Fatalf("an empty policy: %v %+v", err, p)
	}
}
