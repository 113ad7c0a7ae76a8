package ledger_test

import (
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func TestAccountValidate(t *testing.T) {
	t.Parallel()
	ok := alice
	tests := []struct {
		name string
		edit func(a *ledger.Account)
		code fault.Code
	}{
		{"valid", func(a *ledger.Account) {}, ""},
		{"system without currency", func(a *ledger.Account) { *a = external }, ""},
		{"system with currency", func(a *ledger.Account) { *a = fees }, ""},
		{"credit with limit", func(a *ledger.Account) { *a = carol }, ""},
		{"frozen", func(a *ledger.Account) { a.Status = ledger.StatusFrozen }, ""},
		{"empty id", func(a *ledger.Account) { a.ID = "" }, ledger.CodeInvalidAccount},
		{"id with space", func(a *ledger.Account) { a.ID = "acct 1" }, ledger.CodeInvalidAccount},
		{"id too long", func(a *ledger.Account) { a.ID = strings.Repeat("a", ledger.MaxIDLen+1) }, ledger.CodeInvalidAccount},
		{"unknown kind", func(a *ledger.Account) { a.Kind = "loan" }, ledger.CodeInvalidAccount},
		{"unknown status", func(a *ledger.Account) { a.Status = "" }, ledger.CodeInvalidAccount},
		{"customer without currency", func(a *ledger.Account) { a.Currency = money.Asset{} }, ledger.CodeInvalidAccount},
		{"customer in a security", func(a *ledger.Account) { a.Currency = acme }, ledger.CodeInvalidAccount},
		{"system in a security", func(a *ledger.Account) { *a = market; a.Currency = acme }, ledger.CodeInvalidAccount},
		{"negative limit", func(a *ledger.Account) { *a = carol; a.CreditLimit = -1 }, ledger.CodeInvalidAccount},
		{"limit on checking", func(a *ledger.Account) { a.CreditLimit = 1 }, ledger.CodeInvalidAccount},
	}
	for _, tt := range tests {
		a := ok
		tt.edit(&a)
		err := a.Validate()
		if tt.code == "" && err != nil || tt.code != "" && fault.CodeOf(err) != tt.code {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.code)
		}
	}
}

func TestAccountFloorAndAccepts(t *testing.T) {
	t.Parallel()
	floors := []struct {
		acct    ledger.Account
		asset   money.Asset
		floor   int64
		bounded bool
	}{
		{alice, usd, 0, true},
		{bob, usd, 0, true},
		{carol, usd, -50_00, true},
		{carol, eur, 0, true},
		{invest, acme, 0, true},
		{external, usd, 0, false},
		{market, acme, 0, false},
	}
	for _, f := range floors {
		floor, bounded := f.acct.Floor(f.asset)
		if floor != f.floor || bounded != f.bounded {
			t.Errorf("%s/%s floor = %d, %v; want %d, %v", f.acct.ID, f.asset, floor, bounded, f.floor, f.bounded)
		}
	}
	accepts := []struct {
		acct  ledger.Account
		asset money.Asset
		code  fault.Code
	}{
		{alice, usd, ""},
		{alice, eur, money.CodeCurrencyMismatch},
		{alice, acme, ledger.CodeAssetNotAllowed},
		{carol, acme, ledger.CodeAssetNotAllowed},
		{invest, usd, ""},
		{invest, acme, ""},
		{invest, eur, money.CodeCurrencyMismatch},
		{external, eur, ""},
		{external, acme, ""},
		{fees, usd, ""},
		{fees, eur, money.CodeCurrencyMismatch},
		{fees, acme, ""},
	}
	for _, a := range accepts {
		err := a.acct.Accepts(a.asset)
		if a.code == "" && err != nil || a.code != "" && fault.CodeOf(err) != a.code {
			t.Errorf("%s accepts %s: %v, want %q", a.acct.ID, a.asset, err, a.code)
		}
	}
}

func TestBook(t *testing.T) {
	t.Parallel()
	b := newBook(t)
	wantCode(t, b.Open(alice), ledger.CodeInvalidAccount)
	wantCode(t, b.Open(ledger.Account{ID: "x"}), ledger.CodeInvalidAccount)
	wantCode(t, b.SetStatus("acct_nobody", ledger.StatusFrozen), ledger.CodeAccountNotFound)
	wantCode(t, b.SetStatus(alice.ID, "bogus"), ledger.CodeInvalidAccount)
	wantCode(t, b.SetStatus(alice.ID, ledger.StatusFrozen), "")
	if a, _ := b.Account(alice.ID); a.Status != ledger.StatusFrozen {
		t.Fatal("status not set")
	}
	if got := b.Balance(bob.ID, usd); got != (ledger.Balance{Account: bob.ID, Asset: usd}) {
		t.Fatalf("missing balance = %+v", got)
	}
	if len(b.Accounts()) != len(allTestAcc) {
		t.Fatal("Accounts")
	}
	bs := b.Balances()
	for i := 1; i < len(bs); i++ {
		if bs[i-1].Account > bs[i].Account {
			t.Fatal("Balances not sorted")
		}
	}
}
