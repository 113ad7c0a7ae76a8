package ledger_test

import (
	"math"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func TestApplyEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    ledger.Entry
		code fault.Code
		want []ledger.Balance // on success
	}{
		{"transfer", entry("e1", leg(alice.ID, -40_00, usd), leg(bob.ID, 40_00, usd)), "", []ledger.Balance{
			{Account: alice.ID, Asset: usd, Posted: 60_00},
			{Account: bob.ID, Asset: usd, Posted: 40_00},
		}},
		{"spend everything", entry("e1", leg(alice.ID, -100_00, usd), leg(bob.ID, 100_00, usd)), "", []ledger.Balance{
			{Account: alice.ID, Asset: usd, Posted: 0},
			{Account: bob.ID, Asset: usd, Posted: 100_00},
		}},
		{"one cent too many", entry("e1", leg(alice.ID, -100_01, usd), leg(bob.ID, 100_01, usd)), ledger.CodeInsufficientFunds, nil},
		{"empty savings", entry("e1", leg(bob.ID, -1, usd), leg(alice.ID, 1, usd)), ledger.CodeInsufficientFunds, nil},
		{"credit within limit", entry("e1", leg(carol.ID, -50_00, usd), leg(alice.ID, 50_00, usd)), "", []ledger.Balance{
			{Account: carol.ID, Asset: usd, Posted: -50_00},
			{Account: alice.ID, Asset: usd, Posted: 150_00},
		}},
		{"credit over limit", entry("e1", leg(carol.ID, -50_01, usd), leg(alice.ID, 50_01, usd)), ledger.CodeCreditLimitExceeded, nil},
		{"system goes negative", entry("e1", leg(external.ID, -1_000_000_00, usd), leg(bob.ID, 1_000_000_00, usd)), "", []ledger.Balance{
			{Account: external.ID, Asset: usd, Posted: -1_000_100_00},
			{Account: bob.ID, Asset: usd, Posted: 1_000_000_00},
		}},
		{"buy shares", entry("e1",
			leg(alice.ID, -30_00, usd), leg(market.ID, 30_00, usd),
			leg(market.ID, -3, acme), leg(invest.ID, 3, acme)), "", []ledger.Balance{
			{Account: alice.ID, Asset: usd, Posted: 70_00},
			{Account: market.ID, Asset: usd, Posted: 30_00},
			{Account: market.ID, Asset: acme, Posted: -13},
			{Account: invest.ID, Asset: acme, Posted: 13},
		}},
		{"sell shares", entry("e1",
			leg(invest.ID, -5, acme), leg(market.ID, 5, acme),
			leg(market.ID, -50_00, usd), leg(invest.ID, 50_00, usd)), "", []ledger.Balance{
			{Account: invest.ID, Asset: acme, Posted: 5},
			{Account: market.ID, Asset: acme, Posted: -5},
			{Account: market.ID, Asset: usd, Posted: -50_00},
			{Account: invest.ID, Asset: usd, Posted: 50_00},
		}},
		{"sell too many shares", entry("e1", leg(invest.ID, -11, acme), leg(market.ID, 11, acme)), ledger.CodeInsufficientFunds, nil},
		{"to frozen", entry("e1", leg(alice.ID, -1, usd), leg(frozen.ID, 1, usd)), ledger.CodeAccountFrozen, nil},
		{"to closed", entry("e1", leg(alice.ID, -1, usd), leg(closed.ID, 1, usd)), ledger.CodeAccountClosed, nil},
		{"to nobody", entry("e1", leg(alice.ID, -1, usd), leg("acct_nobody", 1, usd)), ledger.CodeAccountNotFound, nil},
		{"wrong currency", entry("e1", leg(external.ID, -1, eur), leg(alice.ID, 1, eur)), money.CodeCurrencyMismatch, nil},
		{"shares to checking", entry("e1", leg(market.ID, -1, acme), leg(alice.ID, 1, acme)), ledger.CodeAssetNotAllowed, nil},
		{"unbalanced", entry("e1", leg(alice.ID, -1, usd), leg(bob.ID, 2, usd)), ledger.CodeUnbalancedEntry, nil},
		{"balance overflow", entry("e1", leg(external.ID, -math.MaxInt64, usd), leg(alice.ID, math.MaxInt64, usd)), money.CodeAmountOverflow, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBook(t)
			before := b.Balances()
			got, err := ledger.ApplyEntry(tt.e, registry(t), b)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				if got != nil {
					t.Fatalf("balances returned with an error: %+v", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("balance %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if after := b.Balances(); len(after) != len(before) {
				t.Fatal("Apply modified the view")
			}
		})
	}
}

func TestInsufficientFundsDetails(t *testing.T) {
	t.Parallel()
	b := newBook(t)
	// 30.00 of alice's 100.00 is held: 70.00 is available.
	b.Commit([]ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 100_00, Held: 30_00}})
	_, err := ledger.ApplyEntry(entry("e1", leg(alice.ID, -80_00, usd), leg(bob.ID, 80_00, usd)), registry(t), b)
	wantCode(t, err, ledger.CodeInsufficientFunds)
	e, _ := fault.As(err)
	want := map[string]any{"needed": int64(80_00), "available": int64(70_00), "currency": "USD", "account_id": alice.ID}
	for k, v := range want {
		if e.Extra[k] != v {
			t.Errorf("%s = %#v, want %#v", k, e.Extra[k], v)
		}
	}

	_, err = ledger.ApplyEntry(entry("e2", leg(carol.ID, -60_00, usd), leg(bob.ID, 60_00, usd)), registry(t), b)
	wantCode(t, err, ledger.CodeCreditLimitExceeded)
	e, _ = fault.As(err)
	want = map[string]any{"needed": int64(60_00), "available": int64(50_00), "currency": "USD", "credit_limit": int64(50_00)}
	for k, v := range want {
		if e.Extra[k] != v {
			t.Errorf("%s = %#v, want %#v", k, e.Extra[k], v)
		}
	}
}

func TestApplyEffects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   []ledger.Balance
		effects []ledger.Effect
		code    fault.Code
		want    []ledger.Balance
	}{
		{"hold lowers available", nil,
			[]ledger.Effect{{Account: alice.ID, Asset: usd, Held: 100_00}}, "",
			[]ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 100_00, Held: 100_00}}},
		{"hold beyond available", nil,
			[]ledger.Effect{{Account: alice.ID, Asset: usd, Held: 100_01}}, ledger.CodeInsufficientFunds, nil},
		{"release more than held", nil,
			[]ledger.Effect{{Account: alice.ID, Asset: usd, Held: -1}}, ledger.CodeInvalidEffect, nil},
		{"release on a frozen account", []ledger.Balance{{Account: frozen.ID, Asset: usd, Posted: 10, Held: 10}},
			[]ledger.Effect{{Account: frozen.ID, Asset: usd, Held: -10}}, "",
			[]ledger.Balance{{Account: frozen.ID, Asset: usd, Posted: 10, Held: 0}}},
		{"hold on a frozen account", []ledger.Balance{{Account: frozen.ID, Asset: usd, Posted: 10}},
			[]ledger.Effect{{Account: frozen.ID, Asset: usd, Held: 10}}, ledger.CodeAccountFrozen, nil},
		{"touch a frozen account", nil,
			[]ledger.Effect{{Account: frozen.ID, Asset: usd}}, ledger.CodeAccountFrozen, nil},
		{"touch changes nothing", nil,
			[]ledger.Effect{{Account: bob.ID, Asset: usd}}, "", []ledger.Balance{}},
		{"post and release together", []ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 100_00, Held: 100_00}},
			[]ledger.Effect{
				{Account: alice.ID, Asset: usd, Posted: -60_00},
				{Account: bob.ID, Asset: usd, Posted: 60_00},
				{Account: alice.ID, Asset: usd, Held: -100_00},
			}, "",
			[]ledger.Balance{{Account: alice.ID, Asset: usd, Posted: 40_00}, {Account: bob.ID, Asset: usd, Posted: 60_00}}},
		{"below floor may still receive", []ledger.Balance{{Account: carol.ID, Asset: usd, Posted: -80_00}},
			[]ledger.Effect{{Account: carol.ID, Asset: usd, Posted: 10_00}}, "",
			[]ledger.Balance{{Account: carol.ID, Asset: usd, Posted: -70_00}}},
		{"below floor may not spend", []ledger.Balance{{Account: carol.ID, Asset: usd, Posted: -80_00}},
			[]ledger.Effect{{Account: carol.ID, Asset: usd, Posted: -1}}, ledger.CodeCreditLimitExceeded, nil},
		{"no asset", nil,
			[]ledger.Effect{{Account: bob.ID, Posted: 1}}, money.CodeUnknownAsset, nil},
		{"merged overflow", nil,
			[]ledger.Effect{{Account: external.ID, Asset: usd, Posted: math.MaxInt64}, {Account: external.ID, Asset: usd, Posted: math.MaxInt64}},
			money.CodeAmountOverflow, nil},
		{"held overflow", []ledger.Balance{{Account: external.ID, Asset: usd, Posted: 0, Held: math.MaxInt64}},
			[]ledger.Effect{{Account: external.ID, Asset: usd, Held: 1}}, money.CodeAmountOverflow, nil},
		{"available overflow", []ledger.Balance{{Account: external.ID, Asset: usd, Posted: -10}},
			[]ledger.Effect{{Account: external.ID, Asset: usd, Held: math.MaxInt64}}, money.CodeAmountOverflow, nil},
		{"too many effects", nil, make([]ledger.Effect, ledger.MaxEffects+1), ledger.CodeInvalidEffect, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBook(t)
			b.Commit(tt.setup)
			got, err := ledger.Apply(tt.effects, b)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("balance %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	if v, err := (ledger.Balance{Posted: 10, Held: 3}).Available(); v != 7 || err != nil {
		t.Fatalf("Available = %d, %v", v, err)
	}
	_, err := (ledger.Balance{Posted: math.MinInt64, Held: 1}).Available()
	wantCode(t, err, money.CodeAmountOverflow)
}
