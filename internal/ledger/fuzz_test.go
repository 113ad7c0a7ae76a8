package ledger_test

import (
	"encoding/binary"
	"math"
	"math/big"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

// fuzzLegSize is the bytes one posting takes in FuzzEntryBalance's input:
// account index, asset index, then a big-endian int64 amount.
const fuzzLegSize = 10

// fuzzAccounts are system accounts, so that floors never refuse and only
// the entry's own rules decide.
var fuzzAccounts = []string{external.ID, market.ID, settlement.ID, "sys:extra"}

func decodeEntry(data []byte) ledger.Entry {
	e := ledger.Entry{ID: "e_fuzz"}
	assets := []money.Asset{usd, jpy, acme, unlisted}
	for len(data) >= fuzzLegSize && len(e.Postings) <= ledger.MaxPostings+1 {
		acct := fuzzAccounts[int(data[0])%len(fuzzAccounts)]
		asset := assets[int(data[1])%len(assets)]
		units := int64(binary.BigEndian.Uint64(data[2:fuzzLegSize]))
		e.Postings = append(e.Postings, ledger.Posting{Account: acct, Amount: money.New(units, asset)})
		data = data[fuzzLegSize:]
	}
	return e
}

func encodeLegs(legs ...[3]int64) []byte {
	var out []byte
	for _, l := range legs {
		out = append(out, byte(l[0]), byte(l[1]))
		out = binary.BigEndian.AppendUint64(out, uint64(l[2]))
	}
	return out
}

// referenceCode is what Validate must answer for a decoded entry, computed
// independently with math/big.
func referenceCode(e ledger.Entry, reg *money.Registry) fault.Code {
	switch {
	case len(e.Postings) < ledger.MinPostings:
		return ledger.CodeTooFewPostings
	case len(e.Postings) > ledger.MaxPostings:
		return ledger.CodeTooManyPostings
	}
	type key struct {
		acct  string
		asset money.Asset
	}
	seen := map[key]bool{}
	for _, p := range e.Postings {
		switch k := (key{p.Account, p.Amount.Asset()}); {
		case !reg.Known(p.Amount.Asset()):
			return money.CodeUnknownAsset
		case p.Amount.IsZero():
			return money.CodeInvalidAmount
		case seen[k]:
			return ledger.CodeDuplicatePosting
		default:
			seen[k] = true
		}
	}
	credits, debits := map[money.Asset]*big.Int{}, map[money.Asset]*big.Int{}
	var order []money.Asset
	for _, p := range e.Postings {
		a := p.Amount.Asset()
		if credits[a] == nil {
			credits[a], debits[a] = new(big.Int), new(big.Int)
			order = append(order, a)
		}
		u := big.NewInt(p.Amount.Units())
		if u.Sign() > 0 {
			credits[a].Add(credits[a], u)
		} else {
			debits[a].Sub(debits[a], u)
		}
		if !credits[a].IsInt64() || !debits[a].IsInt64() {
			return money.CodeAmountOverflow
		}
	}
	for _, a := range order {
		if credits[a].Cmp(debits[a]) != 0 {
			return ledger.CodeUnbalancedEntry
		}
	}
	return ""
}

// FuzzEntryBalance checks entry validation against a math/big oracle and,
// for every accepted entry, that applying it conserves each asset.
func FuzzEntryBalance(f *testing.F) {
	f.Add(encodeLegs([3]int64{0, 0, -100}, [3]int64{1, 0, 100}))
	f.Add(encodeLegs([3]int64{0, 0, -100}, [3]int64{1, 0, 99}))
	f.Add(encodeLegs([3]int64{0, 0, -5}, [3]int64{1, 0, 5}, [3]int64{1, 2, -3}, [3]int64{2, 2, 3}))
	f.Add(encodeLegs([3]int64{0, 0, math.MaxInt64}, [3]int64{1, 0, math.MaxInt64}, [3]int64{2, 0, math.MinInt64}, [3]int64{3, 0, -1}))
	f.Add(encodeLegs([3]int64{0, 0, math.MinInt64}, [3]int64{1, 0, math.MaxInt64}, [3]int64{2, 0, 1}))
	f.Add(encodeLegs([3]int64{0, 1, 0}, [3]int64{1, 1, 0}))
	f.Add(encodeLegs([3]int64{0, 3, 1}, [3]int64{1, 3, -1}))
	f.Add(encodeLegs([3]int64{0, 0, 1}, [3]int64{0, 0, -1}))
	f.Add(encodeLegs([3]int64{0, 0, 1}))
	reg := registry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e := decodeEntry(data)
		err := e.Validate(reg)
		want := referenceCode(e, reg)
		if fault.CodeOf(err) != want && !(want == "" && err == nil) {
			t.Fatalf("Validate(%+v) = %v, want %q", e.Postings, err, want)
		}
		if err != nil {
			return
		}
		b := ledger.NewBook()
		for _, id := range fuzzAccounts {
			if err := b.Open(ledger.Account{ID: id, Kind: ledger.KindSettlement, Status: ledger.StatusActive}); err != nil {
				t.Fatal(err)
			}
		}
		bs, err := ledger.Apply(e.Effects(), b)
		if err != nil {
			t.Fatalf("Apply refused a valid entry on system accounts: %v", err)
		}
		b.Commit(bs)
		if v := ledger.Verify(b.Accounts(), b.Balances(), nil); len(v) > 0 {
			t.Fatalf("entry %+v broke invariants: %v", e.Postings, v)
		}
		rev, err := ledger.Reverse(e, "e_rev")
		if err != nil {
			t.Fatal(err)
		}
		bs, err = ledger.ApplyEntry(rev, reg, b)
		if err != nil {
			t.Fatalf("reversal refused: %v", err)
		}
		b.Commit(bs)
		for _, bal := range b.Balances() {
			if bal.Posted != 0 || bal.Held != 0 {
				t.Fatalf("reversal left %+v", bal)
			}
		}
	})
}
