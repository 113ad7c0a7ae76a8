package ledger_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func TestEntryValidate(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	many := func(n int) []ledger.Posting {
		ps := []ledger.Posting{leg(external.ID, -int64(n-1), usd)}
		for i := 1; i < n; i++ {
			ps = append(ps, leg("acct_"+strconv.Itoa(i), 1, usd))
		}
		return ps
	}
	bigMeta := map[string]string{}
	for i := 0; i <= ledger.MaxMetadata; i++ {
		bigMeta[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		name  string
		e     ledger.Entry
		code  fault.Code
		field string
	}{
		{"two legs", entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 10, usd)), "", ""},
		{"three legs", entry("e1", leg(alice.ID, -11, usd), leg(bob.ID, 10, usd), leg(fees.ID, 1, usd)), "", ""},
		{"two assets (trade)", entry("e1",
			leg(invest.ID, -100, usd), leg(market.ID, 100, usd),
			leg(market.ID, -1, acme), leg(invest.ID, 1, acme)), "", ""},
		{"max postings", ledger.Entry{ID: "e1", Postings: many(ledger.MaxPostings)}, "", ""},
		{"extreme amounts", entry("e1", leg(alice.ID, -math.MaxInt64, usd), leg(bob.ID, math.MaxInt64, usd)), "", ""},
		{"memo and metadata", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Memo: "rent ☂", Metadata: map[string]string{"transfer_id": "trf_1"}}, "", ""},

		{"no id", entry("", leg(alice.ID, -10, usd), leg(bob.ID, 10, usd)), ledger.CodeInvalidEntry, "id"},
		{"bad id", entry("e 1", leg(alice.ID, -10, usd), leg(bob.ID, 10, usd)), ledger.CodeInvalidEntry, "id"},
		{"bad reversal link", ledger.Entry{ID: "e1", ReversalOf: "no way", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)}},
			ledger.CodeInvalidEntry, "reversal_of"},
		{"no postings", entry("e1"), ledger.CodeTooFewPostings, "postings"},
		{"one posting", entry("e1", leg(alice.ID, 10, usd)), ledger.CodeTooFewPostings, "postings"},
		{"too many", ledger.Entry{ID: "e1", Postings: many(ledger.MaxPostings + 1)}, ledger.CodeTooManyPostings, "postings"},
		{"zero amount", entry("e1", leg(alice.ID, 0, usd), leg(bob.ID, 0, usd)), money.CodeInvalidAmount, "postings[0].amount"},
		{"zero leg", entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 10, usd), leg(fees.ID, 0, usd)), money.CodeInvalidAmount, "postings[2].amount"},
		{"unbalanced", entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 9, usd)), ledger.CodeUnbalancedEntry, ""},
		{"same sign", entry("e1", leg(alice.ID, 10, usd), leg(bob.ID, 10, usd)), ledger.CodeUnbalancedEntry, ""},
		{"balanced across assets only", entry("e1", leg(alice.ID, -10, usd), leg(euro.ID, 10, eur)), ledger.CodeUnbalancedEntry, ""},
		{"one asset unbalanced", entry("e1",
			leg(invest.ID, -100, usd), leg(market.ID, 100, usd),
			leg(market.ID, -2, acme), leg(invest.ID, 1, acme)), ledger.CodeUnbalancedEntry, ""},
		{"zero asset", entry("e1", leg(alice.ID, -10, money.Asset{}), leg(bob.ID, 10, money.Asset{})), money.CodeUnknownAsset, "postings[0].currency"},
		{"unlisted symbol", entry("e1", leg(invest.ID, -1, unlisted), leg(market.ID, 1, unlisted)), money.CodeUnknownAsset, "postings[0].currency"},
		{"empty account", entry("e1", leg("", -10, usd), leg(bob.ID, 10, usd)), ledger.CodeInvalidEntry, "postings[0].account_id"},
		{"duplicate leg", entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 5, usd), leg(bob.ID, 5, usd)), ledger.CodeDuplicatePosting, "postings[2].account_id"},
		{"same account, two assets is fine", entry("e1",
			leg(invest.ID, -100, usd), leg(market.ID, 100, usd),
			leg(market.ID, -1, acme), leg(invest.ID, 1, acme)), "", ""},
		{"credits overflow", entry("e1", leg(alice.ID, math.MaxInt64, usd), leg(bob.ID, 1, usd), leg(fees.ID, -1, usd)), money.CodeAmountOverflow, ""},
		{"min int64", entry("e1", leg(alice.ID, math.MinInt64, usd), leg(bob.ID, math.MaxInt64, usd), leg(fees.ID, 1, usd)), money.CodeAmountOverflow, ""},
		{"memo too long", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Memo: strings.Repeat("m", ledger.MaxMemoLen+1)}, ledger.CodeInvalidEntry, "memo"},
		{"memo not utf8", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Memo: "\xff"}, ledger.CodeInvalidEntry, "memo"},
		{"too much metadata", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Metadata: bigMeta}, ledger.CodeInvalidEntry, "metadata"},
		{"empty metadata key", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Metadata: map[string]string{"": "v"}}, ledger.CodeInvalidEntry, "metadata"},
		{"metadata value too long", ledger.Entry{ID: "e1", Postings: []ledger.Posting{leg(alice.ID, -1, usd), leg(bob.ID, 1, usd)},
			Metadata: map[string]string{"k": strings.Repeat("v", ledger.MaxMetadataValueLen+1)}}, ledger.CodeInvalidEntry, "metadata.k"},
	}
	for _, tt := range tests {
		err := tt.e.Validate(reg)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if fault.CodeOf(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			continue
		}
		if tt.field != "" {
			e, _ := fault.As(err)
			if len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
				t.Errorf("%s: fields %+v, want %s", tt.name, e.Fields, tt.field)
			}
		}
	}
}

func TestUnbalancedDetails(t *testing.T) {
	t.Parallel()
	err := entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 9, usd)).Validate(registry(t))
	e, ok := fault.As(err)
	if !ok || e.Extra["currency"] != "USD" || e.Extra["credits"] != int64(9) || e.Extra["debits"] != int64(10) {
		t.Fatalf("details %#v", err)
	}
}

func TestEffects(t *testing.T) {
	t.Parallel()
	e := entry("e1", leg(alice.ID, -10, usd), leg(bob.ID, 10, usd))
	got := e.Effects()
	want := []ledger.Effect{{Account: alice.ID, Asset: usd, Posted: -10}, {Account: bob.ID, Asset: usd, Posted: 10}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Effects = %+v", got)
	}
}
