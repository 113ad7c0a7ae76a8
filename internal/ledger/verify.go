package ledger

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/fiscus/fiscus/internal/money"
)

// Invariant names reported in a Violation.
const (
	RuleConservation = "conservation"   // the balances of one asset do not sum to zero
	RuleOrphan       = "orphan_balance" // a balance of an account that does not exist
	RuleHeldNegative = "held_negative"  // a held amount below zero
	RuleHeldMismatch = "held_mismatch"  // a held amount differs from the sum of its pending holds
	RuleBelowFloor   = "below_floor"    // an available balance below the account's floor
	RuleOverflow     = "overflow"       // a sum that does not fit in int64
)

// Violation is one broken ledger invariant.
type Violation struct {
	Rule    string
	Account string // empty for ledger-wide rules
	Asset   string
	Detail  string
}

func (v Violation) String() string {
	if v.Account == "" {
		return fmt.Sprintf("%s: %s: %s", v.Rule, v.Asset, v.Detail)
	}
	return fmt.Sprintf("%s: %s/%s: %s", v.Rule, v.Account, v.Asset, v.Detail)
}

// Verify checks the ledger-wide invariants over a complete state: every
// balance belongs to an account; per asset, all balances sum to zero; held
// amounts are non-negative and equal the sum of the pending holds on them;
// no available balance is below its account's floor. It returns every
// violation found, in a stable order, or nothing.
//
// A below_floor violation can follow a lowered credit limit rather than a
// bug; the verifier reports it either way, for a person to judge.
func Verify(accounts []Account, balances []Balance, holds []Hold) []Violation {
	var out []Violation
	byID := make(map[string]Account, len(accounts))
	for _, a := range accounts {
		byID[a.ID] = a
	}
	held := map[balanceKey]int64{}
	for _, h := range holds {
		if h.Status != HoldPending {
			continue
		}
		k := balanceKey{h.Account, h.Amount.Asset()}
		s, ok := money.AddUnits(held[k], h.Amount.Units())
		if !ok {
			out = append(out, Violation{RuleOverflow, h.Account, h.Amount.Asset().Code(), "pending holds overflow"})
		}
		held[k] = s
	}
	sums := map[money.Asset]int128{}
	for _, b := range balances {
		code := b.Asset.Code()
		acct, ok := byID[b.Account]
		if !ok {
			out = append(out, Violation{RuleOrphan, b.Account, code, "no such account"})
		}
		sums[b.Asset] = sums[b.Asset].add(b.Posted)
		k := balanceKey{b.Account, b.Asset}
		if b.Held < 0 {
			out = append(out, Violation{RuleHeldNegative, b.Account, code, fmt.Sprintf("held %d", b.Held)})
		}
		if b.Held != held[k] {
			out = append(out, Violation{RuleHeldMismatch, b.Account, code, fmt.Sprintf("held %d, pending holds %d", b.Held, held[k])})
		}
		delete(held, k)
		if !ok {
			continue
		}
		avail, err := b.Available()
		if err != nil {
			out = append(out, Violation{RuleOverflow, b.Account, code, "available balance overflows"})
			continue
		}
		if floor, bounded := acct.Floor(b.Asset); bounded && avail < floor {
			out = append(out, Violation{RuleBelowFloor, b.Account, code, fmt.Sprintf("available %d, floor %d", avail, floor)})
		}
	}
	for k, h := range held {
		if h != 0 {
			out = append(out, Violation{RuleHeldMismatch, k.account, k.asset.Code(), fmt.Sprintf("held 0, pending holds %d", h)})
		}
	}
	for a, s := range sums {
		if s != (int128{}) {
			out = append(out, Violation{RuleConservation, "", a.Code(), "balances do not sum to zero"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// int128 is a two's-complement 128-bit accumulator: summing up to 2^63
// int64 values in it cannot overflow, so the conservation check never
// depends on the order of the balances.
type int128 struct {
	hi int64
	lo uint64
}

func (x int128) add(v int64) int128 {
	lo, carry := bits.Add64(x.lo, uint64(v), 0)
	hi := x.hi + int64(carry)
	if v < 0 {
		hi-- // sign extension of v into the high word
	}
	return int128{hi: hi, lo: lo}
}
