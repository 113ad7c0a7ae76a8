package ledger_test

import (
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

var (
	usd  = money.MustCurrency("USD")
	eur  = money.MustCurrency("EUR")
	jpy  = money.MustCurrency("JPY")
	acme = money.MustSecurity("ACME")
	// unlisted is a well-formed security that the test registry does not list.
	unlisted = money.MustSecurity("NOPE")

	t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

func registry(t testing.TB) *money.Registry {
	t.Helper()
	r, err := money.NewRegistry("ACME", "GLOBEX")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Accounts of the standard test book.
var (
	external   = ledger.Account{ID: "sys:external", Kind: ledger.KindExternal, Status: ledger.StatusActive}
	fees       = ledger.Account{ID: "sys:fees", Kind: ledger.KindFees, Status: ledger.StatusActive, Currency: usd}
	market     = ledger.Account{ID: "sys:market", Kind: ledger.KindMarket, Status: ledger.StatusActive}
	settlement = ledger.Account{ID: "sys:settlement", Kind: ledger.KindSettlement, Status: ledger.StatusActive}
	alice      = ledger.Account{ID: "acct_alice", Kind: ledger.KindChecking, Status: ledger.StatusActive, Currency: usd}
	bob        = ledger.Account{ID: "acct_bob", Kind: ledger.KindSavings, Status: ledger.StatusActive, Currency: usd}
	carol      = ledger.Account{ID: "acct_carol", Kind: ledger.KindCredit, Status: ledger.StatusActive, Currency: usd, CreditLimit: 50_00}
	invest     = ledger.Account{ID: "acct_invest", Kind: ledger.KindInvestment, Status: ledger.StatusActive, Currency: usd}
	frozen     = ledger.Account{ID: "acct_frozen", Kind: ledger.KindChecking, Status: ledger.StatusFrozen, Currency: usd}
	closed     = ledger.Account{ID: "acct_closed", Kind: ledger.KindChecking, Status: ledger.StatusClosed, Currency: usd}
	euro       = ledger.Account{ID: "acct_euro", Kind: ledger.KindChecking, Status: ledger.StatusActive, Currency: eur}
	allTestAcc = []ledger.Account{external, fees, market, settlement, alice, bob, carol, invest, frozen, closed, euro}
)

// newBook opens every test account; alice has 100.00 USD, invest has 10 ACME.
func newBook(t testing.TB) *ledger.Book {
	t.Helper()
	b := ledger.NewBook()
	for _, a := range allTestAcc {
		if err := b.Open(a); err != nil {
			t.Fatal(err)
		}
	}
	b.Commit([]ledger.Balance{
		{Account: alice.ID, Asset: usd, Posted: 100_00},
		{Account: invest.ID, Asset: acme, Posted: 10},
		{Account: external.ID, Asset: usd, Posted: -100_00},
		{Account: market.ID, Asset: acme, Posted: -10},
	})
	return b
}

// leg is a posting of units minor units of asset to account.
func leg(account string, units int64, asset money.Asset) ledger.Posting {
	return ledger.Posting{Account: account, Amount: money.New(units, asset)}
}

func entry(id string, ps ...ledger.Posting) ledger.Entry {
	return ledger.Entry{ID: id, Postings: ps}
}

// wantCode fails t unless err is a *fault.Error with the given code, or nil
// when code is empty.
func wantCode(t testing.TB, err error, code fault.Code) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if _, ok := fault.As(err); !ok {
		t.Fatalf("error %v is not a *fault.Error", err)
	}
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("code %s (%v), want %s", got, err, code)
	}
}

// sums returns the per-asset sum of every balance's Posted and Held,
// leaving out assets whose sums are both zero.
func sums(b *ledger.Book) map[money.Asset][2]int64 {
	out := map[money.Asset][2]int64{}
	for _, bal := range b.Balances() {
		s := out[bal.Asset]
		s[0] += bal.Posted
		s[1] += bal.Held
		out[bal.Asset] = s
	}
	for a, s := range out {
		if s == [2]int64{} {
			delete(out, a) // an absent balance and a zero one are the same
		}
	}
	return out
}
