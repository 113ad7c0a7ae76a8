package ledger_test

import (
	"math"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	pending := ledger.Hold{ID: "h1", Account: alice.ID, Destination: bob.ID, Amount: money.New(30, usd), Status: ledger.HoldPending}
	posted := pending
	posted.Status = ledger.HoldPosted
	accounts := allTestAcc
	tests := []struct {
		name     string
		balances []ledger.Balance
		holds    []ledger.Hold
		rules    []string
	}{
		{"clean", []ledger.Balance{
			{Account: alice.ID, Asset: usd, Posted: 100, Held: 30},
			{Account: external.ID, Asset: usd, Posted: -100},
		}, []ledger.Hold{pending, posted}, nil},
		{"extremes sum in 128 bits", []ledger.Balance{
			{Account: external.ID, Asset: usd, Posted: math.MaxInt64},
			{Account: market.ID, Asset: usd, Posted: math.MaxInt64},
			{Account: fees.ID, Asset: usd, Posted: math.MinInt64},
			{Account: settlement.ID, Asset: usd, Posted: -math.MaxInt64 + 1},
		}, nil, nil},
		{"money created", []ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 1}}, nil, []string{ledger.RuleConservation}},
		{"orphan", []ledger.Balance{
			{Account: "acct_ghost", Asset: usd, Posted: 1},
			{Account: external.ID, Asset: usd, Posted: -1},
		}, nil, []string{ledger.RuleOrphan}},
		{"held without hold", []ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 100, Held: 1}, {Account: external.ID, Asset: usd, Posted: -100}},
			nil, []string{ledger.RuleHeldMismatch}},
		{"hold without held", []ledger.Balance{{Account: external.ID, Asset: usd, Posted: 0}},
			[]ledger.Hold{pending}, []string{ledger.RuleHeldMismatch}},
		{"negative held", []ledger.Balance{{Account: external.ID, Asset: usd, Held: -1}}, nil,
			[]string{ledger.RuleHeldMismatch, ledger.RuleHeldNegative}},
		{"overdraft", []ledger.Balance{{Account: alice.ID, Asset: usd, Posted: -1}, {Account: external.ID, Asset: usd, Posted: 1}},
			nil, []string{ledger.RuleBelowFloor}},
		{"over credit limit", []ledger.Balance{{Account: carol.ID, Asset: usd, Posted: -50_01}, {Account: external.ID, Asset: usd, Posted: 50_01}},
			nil, []string{ledger.RuleBelowFloor}},
		{"available overflow", []ledger.Balance{{Account: alice.ID, Asset: usd, Posted: math.MinInt64, Held: 1}, {Account: external.ID, Asset: usd, Posted: math.MaxInt64}, {Account: bob.ID, Asset: usd, Posted: 1}},
			nil, []string{ledger.RuleHeldMismatch, ledger.RuleOverflow}},
	}
	for _, tt := range tests {
		got := ledger.Verify(accounts, tt.balances, tt.holds)
		var rules []string
		for _, v := range got {
			rules = append(rules, v.Rule)
			if v.String() == "" {
				t.Errorf("%s: empty violation text", tt.name)
			}
		}
		if strings.Join(rules, ",") != strings.Join(tt.rules, ",") {
			t.Errorf("%s: violations %v, want rules %v", tt.name, got, tt.rules)
		}
	}
}
