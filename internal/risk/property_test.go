package risk_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fiscus/fiscus/internal/risk"
)

var zones = []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"}

// genConfig draws a valid configuration: a random subset of the rules in a
// random order, random weights and parameters.
func genConfig(t *rapid.T) risk.Config {
	names := rapid.Permutation(risk.RuleNames()).Draw(t, "order")
	names = names[:rapid.IntRange(0, len(names)).Draw(t, "rules")]
	c := risk.Config{
		ReviewScore: rapid.IntRange(0, 300).Draw(t, "review_score"),
		Window:      time.Duration(rapid.IntRange(1, 1440).Draw(t, "window")) * time.Minute,
		Lookback:    time.Duration(rapid.IntRange(1, 730).Draw(t, "lookback")) * 24 * time.Hour,
	}
	for _, name := range names {
		r := risk.RuleConfig{
			Name:    name,
			Points:  rapid.IntRange(0, risk.MaxPoints).Draw(t, name+".points"),
			Enabled: rapid.IntRange(0, 4).Draw(t, name+".enabled") > 0, // mostly enabled
		}
		switch name {
		case risk.RuleAmountAboveUsual:
			r.PercentOfUsual = rapid.IntRange(1, 5000).Draw(t, "percent")
			r.MinHistory = rapid.IntRange(1, risk.UsualSample).Draw(t, "min_history")
		case risk.RuleVelocityCount, risk.RuleManyRecipients:
			r.Count = rapid.IntRange(1, 30).Draw(t, name+".count")
		case risk.RuleAfterLogin, risk.RuleAfterCredentialChange:
			r.Within = time.Duration(rapid.IntRange(1, 3*24*60).Draw(t, name+".within")) * time.Minute
		case risk.RuleUnusualHour:
			r.FromHour = rapid.IntRange(0, 23).Draw(t, "from_hour")
			r.ToHour = rapid.IntRange(0, 23).Filter(func(h int) bool { return h != r.FromHour }).Draw(t, "to_hour")
			loc, err := time.LoadLocation(rapid.SampledFrom(zones).Draw(t, "zone"))
			if err != nil {
				t.Fatal(err)
			}
			r.Location = loc
		}
		c.Rules = append(c.Rules, r)
	}
	return c
}

func genTime(t *rapid.T, base time.Time, label string) time.Time {
	if rapid.Bool().Draw(t, label+".never") {
		return time.Time{}
	}
	return base.Add(-time.Duration(rapid.Int64Range(-60, 4*24*3600).Draw(t, label)) * time.Second)
}

func genInput(t *rapid.T) risk.Input {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := base.Add(time.Duration(rapid.Int64Range(0, 365*24*3600).Draw(t, "now")) * time.Second)
	return risk.Input{
		Now:       n,
		Amount:    rapid.Int64Range(1, 1<<62).Draw(t, "amount"),
		Currency:  rapid.SampledFrom([]string{"USD", "JPY", "BHD", "XXX?"}).Draw(t, "currency"),
		UserID:    "usr_1",
		Recipient: rapid.StringN(0, 30, 100).Draw(t, "recipient"),
		IP:        rapid.StringN(0, 40, 100).Draw(t, "ip"),
		UserAgent: rapid.String().Draw(t, "user_agent"),
		History: risk.History{
			UsualAmount:       rapid.Int64Range(0, 1<<62).Draw(t, "usual"),
			Transfers:         rapid.IntRange(0, 100).Draw(t, "transfers"),
			KnownRecipient:    rapid.Bool().Draw(t, "known_recipient"),
			RecentTransfers:   rapid.IntRange(0, 40).Draw(t, "recent_transfers"),
			RecentRecipients:  rapid.IntRange(0, 40).Draw(t, "recent_recipients"),
			LastLoginAt:       genTime(t, n, "login"),
			PasswordChangedAt: genTime(t, n, "password"),
			MFAChangedAt:      genTime(t, n, "mfa"),
			KnownIP:           rapid.Bool().Draw(t, "known_ip"),
			KnownDevice:       rapid.Bool().Draw(t, "known_device"),
		},
	}
}

// TestAssessProperties: for any valid configuration and input, Score is the
// sum of the reasons' points, Review is Score >= ReviewScore, reasons follow
// the rule order (enabled rules only, each at most once), every rule decides
// alone (the reasons are those each rule gives on its own) and the answer is
// the same every time.
func TestAssessProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		c := genConfig(t)
		if err := c.Validate(); err != nil {
			t.Fatalf("generated an invalid configuration: %v", err)
		}
		in := genInput(t)
		a := c.Assess(in)

		sum := 0
		for _, r := range a.Reasons {
			sum += r.Points
		}
		if a.Score != sum {
			t.Fatalf("score %d, sum of points %d: %+v", a.Score, sum, a)
		}
		if a.Review != (a.Score >= c.ReviewScore) {
			t.Fatalf("review %t with score %d and review score %d", a.Review, a.Score, c.ReviewScore)
		}

		var alone []risk.Reason
		last := -1
		for _, r := range a.Reasons {
			i := slices.IndexFunc(c.Rules, func(rc risk.RuleConfig) bool { return rc.Name == r.Rule })
			if i <= last || !c.Rules[i].Enabled || r.Message == "" || r.Points != c.Rules[i].Points {
				t.Fatalf("reason %+v out of order, from a disabled rule, or wrong: %+v", r, a.Reasons)
			}
			last = i
		}
		for _, r := range c.Rules {
			one := c
			one.Rules = []risk.RuleConfig{r}
			alone = append(alone, one.Assess(in).Reasons...)
		}
		if !reflect.DeepEqual(a.Reasons, append([]risk.Reason{}, alone...)) {
			t.Fatalf("together %+v\nalone %+v", a.Reasons, alone)
		}
		if again := c.Assess(in); !reflect.DeepEqual(a, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", a, again)
		}
	})
}
