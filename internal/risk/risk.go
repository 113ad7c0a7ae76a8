package risk

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/money"
)

// Input is what the rules look at: the transfer, who makes it, from where,
// and their History. It carries its own Now, so Assess reads no clock.
type Input struct {
	Now       time.Time
	Amount    int64 // minor units of Currency, > 0
	Currency  string
	UserID    string
	Recipient string // destination account ID
	History   History
	IP        string
	UserAgent string
}

// History is the customer's past as far as the rules need it. LoadHistory
// fills it from the database; the zero History is a customer with no past.
type History struct {
	// UsualAmount is the median of the customer's most recent executed
	// outgoing cash transfers in this currency within the lookback, in minor
	// units; 0 without any.
	UsualAmount int64
	// Transfers counts the executed outgoing cash transfers in this currency
	// within the lookback: whether UsualAmount means anything.
	Transfers int
	// KnownRecipient: the customer has sent to this account before, or owns it.
	KnownRecipient bool
	// RecentTransfers counts the customer's earlier outgoing transfers (any
	// status, not this one) created within the velocity window.
	RecentTransfers int
	// RecentRecipients counts the distinct accounts, other than the
	// customer's own, those recent transfers went to.
	RecentRecipients int
	// Times of the last sign-in and of the last password and 2FA changes;
	// zero for never.
	LastLoginAt, PasswordChangedAt, MFAChangedAt time.Time
	// KnownIP and KnownDevice: the IP and the user agent were seen in the
	// customer's earlier sessions (not the current one).
	KnownIP, KnownDevice bool
}

// Reason is one rule that fired: its name, the points it added and a message
// for the compliance officer who reviews the transfer.
type Reason struct {
	Rule    string `json:"rule"`
	Points  int    `json:"points"`
	Message string `json:"message"`
}

// Assessment is the verdict on one transfer. Score is the sum of the
// Reasons' points; Review is Score >= Config.ReviewScore.
type Assessment struct {
	Score   int      `json:"score"`
	Reasons []Reason `json:"reasons"` // in the order of Config.Rules; never nil
	Review  bool     `json:"review"`
}

// Assess scores in against the enabled rules of c, in their order. It is
// pure and deterministic. c should have passed Validate (Default and Parse
// guarantee it); a rule with an unknown name never fires. A ReviewScore of
// 0, as in the zero Config, sends every transfer to review.
func (c Config) Assess(in Input) Assessment {
	a := Assessment{Reasons: make([]Reason, 0, len(c.Rules))}
	for i := range c.Rules {
		r := &c.Rules[i]
		if !r.Enabled {
			continue
		}
		msg, fired := r.eval(c, in)
		if !fired {
			continue
		}
		a.Reasons = append(a.Reasons, Reason{Rule: r.Name, Points: r.Points, Message: msg})
		a.Score += r.Points
	}
	a.Review = a.Score >= c.ReviewScore
	return a
}

// eval reports whether rule r fires on in, and why.
func (r *RuleConfig) eval(c Config, in Input) (string, bool) {
	h := &in.History
	switch r.Name {
	case RuleAmountAboveUsual:
		if h.Transfers < r.MinHistory || h.UsualAmount <= 0 || in.Amount <= 0 ||
			!atLeastPercent(in.Amount, h.UsualAmount, r.PercentOfUsual) {
			return "", false
		}
		return fmt.Sprintf("Amount %s is %s the customer's usual %s",
			formatAmount(in.Amount, in.Currency), ratio(in.Amount, h.UsualAmount),
			formatAmount(h.UsualAmount, in.Currency)), true

	case RuleNewRecipient:
		if h.KnownRecipient {
			return "", false
		}
		if in.Recipient == "" {
			return "First transfer to this recipient", true
		}
		return fmt.Sprintf("First transfer to account %s", quoteShort(in.Recipient)), true

	case RuleVelocityCount:
		if h.RecentTransfers < r.Count {
			return "", false
		}
		return fmt.Sprintf("%d transfers in the %s before this one (rule: %d)",
			h.RecentTransfers, formatDuration(c.Window), r.Count), true

	case RuleManyRecipients:
		if h.RecentRecipients < r.Count {
			return "", false
		}
		return fmt.Sprintf("%d different recipients in the %s before this one (rule: %d)",
			h.RecentRecipients, formatDuration(c.Window), r.Count), true

	case RuleAfterLogin:
		d, ok := since(in.Now, h.LastLoginAt, r.Within)
		if !ok {
			return "", false
		}
		return fmt.Sprintf("Transfer %s after sign-in (rule: within %s)",
			formatDuration(d), formatDuration(r.Within)), true

	case RuleAfterCredentialChange:
		var parts []string
		if d, ok := since(in.Now, h.PasswordChangedAt, r.Within); ok {
			parts = append(parts, "password changed "+formatDuration(d))
		}
		if d, ok := since(in.Now, h.MFAChangedAt, r.Within); ok {
			parts = append(parts, "two-factor authentication changed "+formatDuration(d))
		}
		if len(parts) == 0 {
			return "", false
		}
		return capitalize(strings.Join(parts, " and ")) +
			" before this transfer (rule: within " + formatDuration(r.Within) + ")", true

	case RuleUnusualHour:
		loc := r.Location
		if loc == nil {
			loc = time.UTC
		}
		local := in.Now.In(loc)
		if !inHours(local.Hour(), r.FromHour, r.ToHour) {
			return "", false
		}
		return fmt.Sprintf("Made at %s %s, within the unusual hours %02d:00–%02d:00",
			local.Format("15:04"), loc, r.FromHour, r.ToHour), true

	case RuleNewIPDevice:
		var parts []string
		if !h.KnownIP {
			parts = append(parts, "IP address "+quoteShort(in.IP))
		}
		if !h.KnownDevice {
			parts = append(parts, "device (user agent "+quoteShort(in.UserAgent)+")")
		}
		if len(parts) == 0 {
			return "", false
		}
		return "New " + strings.Join(parts, " and new ") + ": not seen in the customer's earlier sessions", true
	}
	return "", false
}

// atLeastPercent reports amount >= percent% of usual, that is amount×100 >=
// percent×usual, computed exactly in 128 bits. All arguments are positive.
func atLeastPercent(amount, usual int64, percent int) bool {
	if percent <= 0 {
		return true
	}
	hiA, loA := bits.Mul64(uint64(amount), 100)
	hiU, loU := bits.Mul64(uint64(percent), uint64(usual))
	return hiA > hiU || (hiA == hiU && loA >= loU)
}

// ratio writes amount/usual for humans, rounded down: "25x", "2.5x". Both
// are positive.
func ratio(amount, usual int64) string {
	q, rem := amount/usual, amount%usual
	if q >= 10 {
		return fmt.Sprintf("%dx", q)
	}
	// rem×10/usual < 10, and rem < usual keeps Div64 from overflowing.
	hi, lo := bits.Mul64(uint64(rem), 10)
	tenths, _ := bits.Div64(hi, lo, uint64(usual))
	return fmt.Sprintf("%d.%dx", q, tenths)
}

// since returns how long before now t was, and whether that is within
// (inclusive). A zero t (never) is not within; a t after now (clock skew
// between servers) counts as just now.
func since(now, t time.Time, within time.Duration) (time.Duration, bool) {
	if t.IsZero() {
		return 0, false
	}
	d := max(now.Sub(t), 0)
	return d, d <= within
}

// inHours reports whether hour is in [from, to), wrapping past midnight when
// from > to (22 to 5 is 22:00–04:59).
func inHours(hour, from, to int) bool {
	if from <= to {
		return hour >= from && hour < to
	}
	return hour >= from || hour < to
}

// formatAmount writes minor units of a currency as "12,500.00 USD". An
// unknown currency code falls back to minor units.
func formatAmount(units int64, code string) string {
	asset, err := money.Currency(code)
	if err != nil {
		return fmt.Sprintf("%d minor units of %s", units, quoteShort(code))
	}
	s := money.New(units, asset).Format()
	intPart, frac, hasFrac := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(intPart[i])
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String() + " " + asset.Code()
}

// formatDuration writes d rounded to the second without zero units: "2m",
// "24h", "1m30s", "0s".
func formatDuration(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// maxQuoted bounds the client-controlled text (user agent, IP) quoted into a
// message.
const maxQuoted = 80

// quoteShort quotes client-controlled text for a message: escaped, and cut
// to maxQuoted bytes on a rune boundary.
func quoteShort(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
