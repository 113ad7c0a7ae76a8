package risk_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/risk"
)

// now is a Tuesday afternoon, UTC: outside the default unusual hours.
var now = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

// normal is a transfer on which no default rule fires: a usual amount to a
// known recipient from a known device, an hour after sign-in.
func normal() risk.Input {
	return risk.Input{
		Now:       now,
		Amount:    50_00,
		Currency:  "USD",
		UserID:    "usr_alice",
		Recipient: "acct_bob",
		IP:        "203.0.113.7",
		UserAgent: "Firefox",
		History: risk.History{
			UsualAmount:    50_00,
			Transfers:      10,
			KnownRecipient: true,
			LastLoginAt:    now.Add(-time.Hour),
			KnownIP:        true,
			KnownDevice:    true,
		},
	}
}

// only returns the default configuration with just the named rule, edited
// by edit (if any).
func only(t *testing.T, name string, edit func(*risk.RuleConfig)) risk.Config {
	t.Helper()
	c := risk.Default()
	for _, r := range c.Rules {
		if r.Name == name {
			if edit != nil {
				edit(&r)
			}
			c.Rules = []risk.RuleConfig{r}
			if err := c.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			return c
		}
	}
	t.Fatalf("no default rule %q", name)
	return risk.Config{}
}

func TestNormalTransferScoresZero(t *testing.T) {
	t.Parallel()
	a := risk.Default().Assess(normal())
	if a.Score != 0 || len(a.Reasons) != 0 || a.Review {
		t.Fatalf("normal transfer: %+v", a)
	}
	if a.Reasons == nil {
		t.Error("Reasons is nil; want an empty list (it is stored as JSON)")
	}
}

// TestRules fires each rule at its threshold and not one step short of it.
func TestRules(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		rule  string
		edit  func(*risk.RuleConfig) // the rule's configuration; nil: default
		input func(*risk.Input)
		want  string // the message when it fires; "" when it must not
	}{
		// amount_above_usual: 1000% of usual, from 3 transfers of history.
		{"amount exactly 10x usual", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.UsualAmount, in.Amount = 500_00, 5_000_00
		}, "Amount 5,000.00 USD is 10x the customer's usual 500.00 USD"},
		{"amount just under 10x usual", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.UsualAmount, in.Amount = 500_00, 5_000_00-1
		}, ""},
		{"amount 25x usual", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.UsualAmount, in.Amount = 500_00, 12_500_00
		}, "Amount 12,500.00 USD is 25x the customer's usual 500.00 USD"},
		{"history exactly at the minimum", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.Transfers, in.History.UsualAmount, in.Amount = 3, 1_00, 1_000_000_00
		}, "Amount 1,000,000.00 USD is 1000000x the customer's usual 1.00 USD"},
		{"history one short of the minimum", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.Transfers, in.History.UsualAmount, in.Amount = 2, 1_00, 1_000_000_00
		}, ""},
		{"no usual amount", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.History.UsualAmount, in.Amount = 0, 1_000_000_00
		}, ""},
		{"percent below 10x: exactly 250%", risk.RuleAmountAboveUsual, func(r *risk.RuleConfig) { r.PercentOfUsual = 250 },
			func(in *risk.Input) { in.History.UsualAmount, in.Amount = 100, 250 },
			"Amount 2.50 USD is 2.5x the customer's usual 1.00 USD"},
		{"percent below 10x: one short", risk.RuleAmountAboveUsual, func(r *risk.RuleConfig) { r.PercentOfUsual = 250 },
			func(in *risk.Input) { in.History.UsualAmount, in.Amount = 100, 249 }, ""},
		{"huge amounts do not overflow", risk.RuleAmountAboveUsual, func(r *risk.RuleConfig) { r.PercentOfUsual = risk.MaxPercent },
			func(in *risk.Input) { in.History.UsualAmount, in.Amount = 1<<62, 1<<62 }, ""},
		{"amount in a currency without decimals", risk.RuleAmountAboveUsual, nil, func(in *risk.Input) {
			in.Currency, in.History.UsualAmount, in.Amount = "JPY", 1000, 1_234_567
		}, "Amount 1,234,567 JPY is 1234x the customer's usual 1,000 JPY"},

		// new_recipient.
		{"new recipient", risk.RuleNewRecipient, nil, func(in *risk.Input) { in.History.KnownRecipient = false },
			`First transfer to account "acct_bob"`},
		{"known recipient", risk.RuleNewRecipient, nil, func(in *risk.Input) { in.History.KnownRecipient = true }, ""},

		// velocity_count: 10 earlier transfers in the window.
		{"velocity exactly at the count", risk.RuleVelocityCount, nil, func(in *risk.Input) { in.History.RecentTransfers = 10 },
			"10 transfers in the 10m before this one (rule: 10)"},
		{"velocity one short", risk.RuleVelocityCount, nil, func(in *risk.Input) { in.History.RecentTransfers = 9 }, ""},

		// many_recipients: 5 distinct recipients in the window.
		{"recipients exactly at the count", risk.RuleManyRecipients, nil, func(in *risk.Input) { in.History.RecentRecipients = 5 },
			"5 different recipients in the 10m before this one (rule: 5)"},
		{"recipients one short", risk.RuleManyRecipients, nil, func(in *risk.Input) { in.History.RecentRecipients = 4 }, ""},

		// after_login: within 2 minutes.
		{"login exactly 2m before", risk.RuleAfterLogin, nil, func(in *risk.Input) { in.History.LastLoginAt = now.Add(-2 * time.Minute) },
			"Transfer 2m after sign-in (rule: within 2m)"},
		{"login 2m and 1µs before", risk.RuleAfterLogin, nil, func(in *risk.Input) {
			in.History.LastLoginAt = now.Add(-2*time.Minute - time.Microsecond)
		}, ""},
		{"login a little after now (clock skew)", risk.RuleAfterLogin, nil, func(in *risk.Input) { in.History.LastLoginAt = now.Add(time.Second) },
			"Transfer 0s after sign-in (rule: within 2m)"},
		{"never signed in", risk.RuleAfterLogin, nil, func(in *risk.Input) { in.History.LastLoginAt = time.Time{} }, ""},

		// after_credential_change: within 24 hours.
		{"password changed exactly 24h before", risk.RuleAfterCredentialChange, nil, func(in *risk.Input) {
			in.History.PasswordChangedAt = now.Add(-24 * time.Hour)
		}, "Password changed 24h before this transfer (rule: within 24h)"},
		{"password changed 24h and 1µs before", risk.RuleAfterCredentialChange, nil, func(in *risk.Input) {
			in.History.PasswordChangedAt = now.Add(-24*time.Hour - time.Microsecond)
		}, ""},
		{"2FA changed exactly 24h before", risk.RuleAfterCredentialChange, nil, func(in *risk.Input) {
			in.History.MFAChangedAt = now.Add(-24 * time.Hour)
		}, "Two-factor authentication changed 24h before this transfer (rule: within 24h)"},
		{"2FA changed 24h and 1µs before", risk.RuleAfterCredentialChange, nil, func(in *risk.Input) {
			in.History.MFAChangedAt = now.Add(-24*time.Hour - time.Microsecond)
		}, ""},
		{"both changed", risk.RuleAfterCredentialChange, nil, func(in *risk.Input) {
			in.History.PasswordChangedAt = now.Add(-3*time.Hour - 12*time.Minute)
			in.History.MFAChangedAt = now.Add(-90 * time.Second)
		}, "Password changed 3h12m and two-factor authentication changed 1m30s before this transfer (rule: within 24h)"},

		// unusual_hour: [00:00, 05:00) UTC.
		{"at 00:00", risk.RuleUnusualHour, nil, func(in *risk.Input) { in.Now = at(0, 0, 0) },
			"Made at 00:00 UTC, within the unusual hours 00:00–05:00"},
		{"at 04:59:59", risk.RuleUnusualHour, nil, func(in *risk.Input) { in.Now = at(4, 59, 59) },
			"Made at 04:59 UTC, within the unusual hours 00:00–05:00"},
		{"at 05:00", risk.RuleUnusualHour, nil, func(in *risk.Input) { in.Now = at(5, 0, 0) }, ""},
		{"at 23:59:59", risk.RuleUnusualHour, nil, func(in *risk.Input) { in.Now = at(23, 59, 59) }, ""},
		{"in another time zone: 00:30 in Paris", risk.RuleUnusualHour, func(r *risk.RuleConfig) { r.Location = paris },
			func(in *risk.Input) { in.Now = at(23, 30, 0) }, // 00:30 CET
			"Made at 00:30 Europe/Paris, within the unusual hours 00:00–05:00"},
		{"in another time zone: 04:30 UTC is 05:30 in Paris", risk.RuleUnusualHour, func(r *risk.RuleConfig) { r.Location = paris },
			func(in *risk.Input) { in.Now = at(4, 30, 0) }, ""},
		{"wrapping past midnight: 22:00", risk.RuleUnusualHour, func(r *risk.RuleConfig) { r.FromHour, r.ToHour = 22, 5 },
			func(in *risk.Input) { in.Now = at(22, 0, 0) }, "Made at 22:00 UTC, within the unusual hours 22:00–05:00"},
		{"wrapping past midnight: 21:59", risk.RuleUnusualHour, func(r *risk.RuleConfig) { r.FromHour, r.ToHour = 22, 5 },
			func(in *risk.Input) { in.Now = at(21, 59, 59) }, ""},
		{"wrapping past midnight: 03:00", risk.RuleUnusualHour, func(r *risk.RuleConfig) { r.FromHour, r.ToHour = 22, 5 },
			func(in *risk.Input) { in.Now = at(3, 0, 0) }, "Made at 03:00 UTC, within the unusual hours 22:00–05:00"},

		// new_ip_device.
		{"new IP", risk.RuleNewIPDevice, nil, func(in *risk.Input) { in.History.KnownIP = false },
			`New IP address "203.0.113.7": not seen in the customer's earlier sessions`},
		{"new device", risk.RuleNewIPDevice, nil, func(in *risk.Input) { in.History.KnownDevice = false },
			`New device (user agent "Firefox"): not seen in the customer's earlier sessions`},
		{"new IP and device, a long hostile user agent", risk.RuleNewIPDevice, nil, func(in *risk.Input) {
			in.History.KnownIP, in.History.KnownDevice = false, false
			in.UserAgent = "\x1b[31m" + strings.Repeat("é", 100)
		}, `New IP address "203.0.113.7" and new device (user agent "\x1b[31m` + strings.Repeat("é", 37) + `"…): not seen in the customer's earlier sessions`},
		{"known IP and device", risk.RuleNewIPDevice, nil, func(in *risk.Input) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := only(t, tc.rule, tc.edit)
			in := normal()
			tc.input(&in)
			a := c.Assess(in)
			if tc.want == "" {
				if len(a.Reasons) != 0 || a.Score != 0 {
					t.Fatalf("fired: %+v", a)
				}
				return
			}
			want := []risk.Reason{{Rule: tc.rule, Points: c.Rules[0].Points, Message: tc.want}}
			if !reflect.DeepEqual(a.Reasons, want) || a.Score != c.Rules[0].Points {
				t.Fatalf("got %+v\nwant reasons %+v", a, want)
			}
		})
	}
}

func at(h, m, s int) time.Time { return time.Date(2026, 1, 13, h, m, s, 0, time.UTC) }

func TestDisabledRuleNeverFires(t *testing.T) {
	t.Parallel()
	c := only(t, risk.RuleNewRecipient, func(r *risk.RuleConfig) { r.Enabled = false })
	in := normal()
	in.History.KnownRecipient = false
	if a := c.Assess(in); len(a.Reasons) != 0 || a.Score != 0 {
		t.Fatalf("disabled rule fired: %+v", a)
	}
}

// TestCombinations: one weak signal, or several ordinary ones, stay below
// review; the account-takeover patterns reach it.
func TestCombinations(t *testing.T) {
	t.Parallel()
	c := risk.Default()
	for _, r := range c.Rules {
		if r.Points >= c.ReviewScore {
			t.Errorf("rule %s alone (%d points) reaches the review score %d", r.Name, r.Points, c.ReviewScore)
		}
	}
	newDevice := func(in *risk.Input) { in.History.KnownIP, in.History.KnownDevice = false, false }
	newRecipient := func(in *risk.Input) { in.History.KnownRecipient = false }
	bigAmount := func(in *risk.Input) { in.Amount = 100 * in.History.UsualAmount }
	justLoggedIn := func(in *risk.Input) { in.History.LastLoginAt = now.Add(-time.Minute) }
	night := func(in *risk.Input) { in.Now = at(3, 0, 0); in.History.LastLoginAt = in.Now.Add(-time.Minute) }
	newPassword := func(in *risk.Input) { in.History.PasswordChangedAt = now.Add(-time.Hour) }
	for _, tc := range []struct {
		name   string
		edits  []func(*risk.Input)
		rules  []string
		score  int
		review bool
	}{
		{"new device, new recipient, amount far above usual", []func(*risk.Input){newDevice, newRecipient, bigAmount},
			[]string{risk.RuleAmountAboveUsual, risk.RuleNewRecipient, risk.RuleNewIPDevice}, 75, true},
		{"password just changed, new device, new recipient", []func(*risk.Input){newPassword, newDevice, newRecipient},
			[]string{risk.RuleNewRecipient, risk.RuleAfterCredentialChange, risk.RuleNewIPDevice}, 80, true},
		{"new phone, paying someone new at night right after sign-in", []func(*risk.Input){newDevice, newRecipient, night},
			[]string{risk.RuleNewRecipient, risk.RuleAfterLogin, risk.RuleUnusualHour, risk.RuleNewIPDevice}, 60, false},
		{"a big payment to a new recipient right after sign-in", []func(*risk.Input){bigAmount, newRecipient, justLoggedIn},
			[]string{risk.RuleAmountAboveUsual, risk.RuleNewRecipient, risk.RuleAfterLogin}, 60, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := normal()
			for _, edit := range tc.edits {
				edit(&in)
			}
			a := c.Assess(in)
			var rules []string
			for _, r := range a.Reasons {
				rules = append(rules, r.Rule)
			}
			if !slices.Equal(rules, tc.rules) || a.Score != tc.score || a.Review != tc.review {
				t.Fatalf("got rules %v score %d review %t; want %v %d %t", rules, a.Score, a.Review, tc.rules, tc.score, tc.review)
			}
		})
	}
}

// TestReviewScoreIsInclusive: a score exactly at ReviewScore goes to review,
// one point short does not.
func TestReviewScoreIsInclusive(t *testing.T) {
	t.Parallel()
	in := normal()
	in.History.KnownRecipient, in.History.KnownDevice = false, false // 15 + 25
	for _, tc := range []struct {
		reviewScore int
		review      bool
	}{{0, true}, {40, true}, {41, false}} {
		c := risk.Default()
		c.ReviewScore = tc.reviewScore
		if a := c.Assess(in); a.Score != 40 || a.Review != tc.review {
			t.Errorf("review score %d: %+v, want score 40 review %t", tc.reviewScore, a, tc.review)
		}
	}
	// Review score 0 holds every transfer, even one that scores nothing.
	c := risk.Default()
	c.ReviewScore = 0
	if a := c.Assess(normal()); a.Score != 0 || !a.Review {
		t.Errorf("review score 0: %+v", a)
	}
}

// TestReasonsFollowRuleOrder: reasons come in the order of the rules, so
// reversing the rules reverses the reasons.
func TestReasonsFollowRuleOrder(t *testing.T) {
	t.Parallel()
	in := normal()
	in.History.KnownRecipient, in.History.KnownDevice, in.History.RecentTransfers = false, false, 20
	c := risk.Default()
	a := c.Assess(in)
	slices.Reverse(c.Rules)
	b := c.Assess(in)
	slices.Reverse(b.Reasons)
	if len(a.Reasons) != 3 || !reflect.DeepEqual(a, b) {
		t.Fatalf("forward %+v\nreversed back %+v", a, b)
	}
}

func TestAssessIsDeterministic(t *testing.T) {
	t.Parallel()
	in := normal()
	in.Now = at(1, 2, 3)
	in.History = risk.History{LastLoginAt: in.Now, PasswordChangedAt: in.Now, RecentTransfers: 50, RecentRecipients: 50}
	c := risk.Default()
	first := c.Assess(in)
	if len(first.Reasons) != 7 {
		t.Fatalf("expected 7 reasons, got %+v", first)
	}
	for range 100 {
		if again := c.Assess(in); !reflect.DeepEqual(first, again) {
			t.Fatalf("Assess changed its answer:\n%+v\n%+v", first, again)
		}
	}
}
