// Package policy holds the controls that decide what a transfer needs before
// it may move money: how many approvers (maker-checker thresholds per kind
// and currency), whether the maker must have passed a recent second-factor
// check (step-up), and how much a customer of a tier may send per transfer,
// per day and per month. It is pure: no I/O, no clock.
//
// Defaults (all configurable, see Parse*):
//
//	cash, USD      auto-approve ≤ 10,000.00; one approver above; two above 50,000.00
//	cash, others   the same in rough equivalents for EUR, GBP, CHF, CAD, AUD, JPY;
//	               a currency without thresholds always needs one approver
//	shares         always one (compliance) approver
//	pending        an unapproved transfer expires after 72 hours
//	step-up        above 5,000.00 USD (and equivalents), for makers with 2FA on
//	limits         tier "standard": 25,000.00 per transfer, 50,000.00 a day,
//	               200,000.00 a month (USD); tier "premium": 250,000.00,
//	               500,000.00, 2,000,000.00; a tier or currency without limits
//	               has none
package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/money"
)

// Thresholds are the approval thresholds of one currency, in minor units:
// at or below AutoMax a transfer executes at once; above DualAbove it needs
// two different approvers; in between, one.
type Thresholds struct {
	AutoMax   int64
	DualAbove int64
}

// Limits are a tier's outgoing limits in one currency, in minor units; 0
// means no limit.
type Limits struct {
	PerTransfer int64
	Daily       int64
	Monthly     int64
}

// Policy is the whole set of controls.
type Policy struct {
	Approval    map[string]Thresholds        // cash transfers, by currency
	PendingTTL  time.Duration                // how long a transfer may wait for approval
	StepUpAbove map[string]int64             // by currency; absent: never
	Limits      map[string]map[string]Limits // by tier, then currency
}

// Approvals returns how many distinct approvers a transfer needs: 0 (it
// executes at once), 1 or 2.
func (p Policy) Approvals(kind, currency string, amount int64) int {
	if kind != "cash" {
		return 1 // share transfers (and anything new) always need compliance
	}
	t, ok := p.Approval[currency]
	switch {
	case !ok:
		return 1
	case amount <= t.AutoMax:
		return 0
	case amount > t.DualAbove:
		return 2
	}
	return 1
}

// NeedsStepUp reports whether a transfer of amount needs a recent second
// factor check from a maker who has 2FA enabled.
func (p Policy) NeedsStepUp(currency string, amount int64) bool {
	above, ok := p.StepUpAbove[currency]
	return ok && amount > above
}

// LimitsFor returns the limits of tier in currency (zero: none).
func (p Policy) LimitsFor(tier, currency string) Limits { return p.Limits[tier][currency] }

// Default returns the default policy.
func Default() Policy {
	p, err := Build(DefaultApproval, DefaultStepUp, DefaultLimits, 72*time.Hour)
	if err != nil {
		panic("default policy: " + err.Error())
	}
	return p
}

// Default settings, in the text forms Parse* read.
const (
	DefaultApproval = "USD:10000.00:50000.00,EUR:10000.00:50000.00,GBP:8000.00:40000.00,CHF:10000.00:50000.00," +
		"CAD:13000.00:65000.00,AUD:15000.00:75000.00,JPY:1500000:7500000"
	DefaultStepUp = "USD:5000.00,EUR:5000.00,GBP:4000.00,CHF:5000.00,CAD:6500.00,AUD:7500.00,JPY:750000"
	DefaultLimits = "standard:USD:25000.00:50000.00:200000.00,premium:USD:250000.00:500000.00:2000000.00"
)

// Build parses the three settings (see ParseApproval, ParseStepUp,
// ParseLimits) into a policy.
func Build(approval, stepUp, limits string, pendingTTL time.Duration) (Policy, error) {
	var p Policy
	var err error
	if p.Approval, err = ParseApproval(approval); err != nil {
		return Policy{}, err
	}
	if p.StepUpAbove, err = ParseStepUp(stepUp); err != nil {
		return Policy{}, err
	}
	if p.Limits, err = ParseLimits(limits); err != nil {
		return Policy{}, err
	}
	if pendingTTL <= 0 {
		return Policy{}, fmt.Errorf("the approval expiry must be positive")
	}
	p.PendingTTL = pendingTTL
	return p, nil
}

// ParseApproval reads "CUR:auto_max:dual_above,…" with decimal amounts in
// the currency ("USD:10000.00:50000.00"). Empty means no thresholds (every
// cash transfer needs one approver).
func ParseApproval(s string) (map[string]Thresholds, error) {
	out := map[string]Thresholds{}
	err := eachItem(s, 3, func(f []string) error {
		a, err := amounts(f[0], f[1:])
		if err != nil {
			return err
		}
		if a[0] < 0 || a[1] < a[0] {
			return fmt.Errorf("%s: want 0 ≤ auto-approve maximum ≤ dual-approval threshold", f[0])
		}
		return put(out, f[0], Thresholds{AutoMax: a[0], DualAbove: a[1]})
	})
	return out, err
}

// ParseStepUp reads "CUR:above,…" ("USD:5000.00").
func ParseStepUp(s string) (map[string]int64, error) {
	out := map[string]int64{}
	err := eachItem(s, 2, func(f []string) error {
		a, err := amounts(f[0], f[1:])
		if err != nil {
			return err
		}
		if a[0] < 0 {
			return fmt.Errorf("%s: the step-up threshold cannot be negative", f[0])
		}
		return put(out, f[0], a[0])
	})
	return out, err
}

// ParseLimits reads "tier:CUR:per_transfer:daily:monthly,…"
// ("standard:USD:25000.00:50000.00:200000.00"); 0 is no limit.
func ParseLimits(s string) (map[string]map[string]Limits, error) {
	out := map[string]map[string]Limits{}
	err := eachItem(s, 5, func(f []string) error {
		tier := f[0]
		if !validTier(tier) {
			return fmt.Errorf("%q is not a tier name (lower-case letters, digits, _)", tier)
		}
		a, err := amounts(f[1], f[2:])
		if err != nil {
			return err
		}
		for _, v := range a {
			if v < 0 {
				return fmt.Errorf("%s %s: limits cannot be negative", tier, f[1])
			}
		}
		if out[tier] == nil {
			out[tier] = map[string]Limits{}
		}
		return put(out[tier], f[1], Limits{PerTransfer: a[0], Daily: a[1], Monthly: a[2]})
	})
	return out, err
}

// eachItem splits s at commas and each item at colons into exactly n fields.
func eachItem(s string, n int, fn func([]string) error) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(item), ":")
		if len(f) != n {
			return fmt.Errorf("%q: want %d fields separated by ':'", item, n)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// amounts parses decimal amounts of currency code exactly (no rounding).
func amounts(code string, texts []string) ([]int64, error) {
	cur, err := money.Currency(code)
	if err != nil {
		return nil, fmt.Errorf("%q is not a currency code", code)
	}
	out := make([]int64, len(texts))
	for i, t := range texts {
		a, err := money.Parse(t, cur)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", code, t, err)
		}
		out[i] = a.Units()
	}
	return out, nil
}

func put[V any](m map[string]V, key string, v V) error {
	if _, dup := m[key]; dup {
		return fmt.Errorf("%s is given twice", key)
	}
	m[key] = v
	return nil
}

func validTier(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
