package ledger_test

import (
	"fmt"
	"testing"

	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

// benchEntry returns a book and an n-posting USD entry that it accepts: one
// funded account pays n-1 recipients.
func benchEntry(b *testing.B, n int) (*ledger.Book, ledger.Entry) {
	b.Helper()
	book := ledger.NewBook()
	payer := ledger.Account{ID: "acct_payer", Kind: ledger.KindChecking, Status: ledger.StatusActive, Currency: usd}
	for _, a := range []ledger.Account{external, payer} {
		if err := book.Open(a); err != nil {
			b.Fatal(err)
		}
	}
	book.Commit([]ledger.Balance{{Account: payer.ID, Asset: usd, Posted: 1_000_000_00}, {Account: external.ID, Asset: usd, Posted: -1_000_000_00}})
	e := ledger.Entry{ID: "e_bench", Postings: []ledger.Posting{leg(payer.ID, -int64(n-1)*100, usd)}}
	for i := 1; i < n; i++ {
		a := ledger.Account{ID: fmt.Sprintf("acct_payee_%02d", i), Kind: ledger.KindChecking, Status: ledger.StatusActive, Currency: usd}
		if err := book.Open(a); err != nil {
			b.Fatal(err)
		}
		e.Postings = append(e.Postings, leg(a.ID, 100, usd))
	}
	return book, e
}

var balanceSink []ledger.Balance

// BenchmarkApply measures the whole pure core of posting an entry:
// validation (registry lookups, balancing) and Apply against an in-memory
// book of the accounts it touches.
func BenchmarkApply(b *testing.B) {
	reg, err := money.NewRegistry("ACME")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2, 10} {
		b.Run(fmt.Sprintf("postings=%d", n), func(b *testing.B) {
			book, e := benchEntry(b, n)
			b.ReportAllocs()
			for b.Loop() {
				bs, err := ledger.ApplyEntry(e, reg, book)
				if err != nil {
					b.Fatal(err)
				}
				balanceSink = bs
			}
		})
	}
}
