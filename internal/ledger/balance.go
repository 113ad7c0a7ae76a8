package ledger

import (
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// Balance is one account's position in one asset, in minor units.
type Balance struct {
	Account string
	Asset   money.Asset
	// Posted is the ledger balance: the sum of every posting to the account
	// in this asset.
	Posted int64
	// Held is the part of Posted reserved by pending holds; never negative.
	Held int64
}

// Available is what the account may still spend or move: Posted - Held.
func (b Balance) Available() (int64, error) {
	v, ok := money.SubUnits(b.Posted, b.Held)
	if !ok {
		return 0, fault.New(money.CodeAmountOverflow, "The available balance of %s in %s overflows.", b.Account, b.Asset.Code())
	}
	return v, nil
}

// Effect is a change to one balance, as deltas in minor units. Entries,
// holds and their transitions are all expressed as effects, and Apply is the
// one place that judges them.
type Effect struct {
	Account string
	Asset   money.Asset
	Posted  int64 // added to Balance.Posted
	Held    int64 // added to Balance.Held
}

// View is what Apply reads: the accounts an operation touches and their
// current balances, as the caller loaded them (and locked them) inside its
// transaction. Balance returns a zero Balance for a pair that has none yet.
type View interface {
	Account(id string) (Account, bool)
	Balance(account string, asset money.Asset) Balance
}

// MaxEffects bounds the effects of one operation: a hold posted with an
// entry of MaxPostings postings has MaxPostings+1.
const MaxEffects = MaxPostings + 1

// Apply judges effects against the accounts and balances in v and returns
// the balances they produce, one per (account, asset) whose balance changes,
// in the order each pair first appears in effects. It modifies nothing; on
// error the caller writes nothing.
//
// Effects on the same pair are combined first, so one operation can post
// from and release a hold on the same balance. Every account must exist and
// accept the asset. Any effect other than a pure release of held funds needs
// an active account, so a frozen account can still have its holds voided or
// expired. If the combined effect lowers a balance's available amount, the
// result must stay at or above the account's floor; an account already below
// its floor (after its credit limit was lowered, say) may still receive.
func Apply(effects []Effect, v View) ([]Balance, error) {
	if len(effects) > MaxEffects {
		return nil, fault.New(CodeInvalidEffect, "An operation has at most %d effects.", MaxEffects)
	}
	merged, err := merge(effects)
	if err != nil {
		return nil, err
	}
	out := make([]Balance, 0, len(merged))
	for _, e := range merged {
		if e.Asset.IsZero() {
			return nil, fault.New(money.CodeUnknownAsset, "An effect on %s has no asset.", e.Account)
		}
		acct, ok := v.Account(e.Account)
		if !ok {
			return nil, fault.New(CodeAccountNotFound, "Account %s does not exist.", e.Account).With("account_id", e.Account)
		}
		if !(e.Posted == 0 && e.Held < 0) {
			if err := acct.usable(); err != nil {
				return nil, err
			}
		}
		if err := acct.Accepts(e.Asset); err != nil {
			return nil, err
		}
		if e.Posted == 0 && e.Held == 0 {
			continue // a touch: the account had to exist and be usable, nothing changes
		}
		cur := v.Balance(e.Account, e.Asset)
		next, err := step(acct, cur, e)
		if err != nil {
			return nil, err
		}
		out = append(out, next)
	}
	return out, nil
}

// step applies one merged effect to one balance and checks the floor.
func step(acct Account, cur Balance, e Effect) (Balance, error) {
	next := cur
	next.Account, next.Asset = e.Account, e.Asset
	var ok bool
	if next.Posted, ok = money.AddUnits(cur.Posted, e.Posted); !ok {
		return Balance{}, overflowOn(e)
	}
	if next.Held, ok = money.AddUnits(cur.Held, e.Held); !ok {
		return Balance{}, overflowOn(e)
	}
	if next.Held < 0 {
		return Balance{}, fault.New(CodeInvalidEffect, "More would be released than %s holds in %s.", e.Account, e.Asset.Code())
	}
	before, err := cur.Available()
	if err != nil {
		return Balance{}, err
	}
	after, err := next.Available()
	if err != nil {
		return Balance{}, err
	}
	if after >= before {
		return next, nil
	}
	floor, bounded := acct.Floor(e.Asset)
	if !bounded || after >= floor {
		return next, nil
	}
	needed, ok1 := money.SubUnits(before, after)
	spendable, ok2 := money.SubUnits(before, floor)
	if !ok1 || !ok2 {
		return Balance{}, overflowOn(e)
	}
	return Balance{}, shortfall(acct, e.Asset, needed, spendable)
}

// shortfall is the refusal of an operation that needs more than the account
// has: needed is how much the operation lowers the available balance,
// available how much it could have lowered it (never below zero).
func shortfall(acct Account, asset money.Asset, needed, available int64) *fault.Error {
	available = max(available, 0)
	code, msg := CodeInsufficientFunds, "Account %s has insufficient funds in %s."
	if acct.Kind == KindCredit && asset == acct.Currency {
		code, msg = CodeCreditLimitExceeded, "The operation would exceed the credit limit of account %s in %s."
	}
	e := fault.New(code, msg, acct.ID, asset.Code()).
		With("account_id", acct.ID).
		With("needed", needed).
		With("available", available).
		With("currency", asset.Code())
	if code == CodeCreditLimitExceeded {
		e = e.With("credit_limit", acct.CreditLimit)
	}
	return e
}

// merge combines effects on the same (account, asset), keeping first-seen
// order. Operations are small (MaxEffects), so a linear scan beats a map,
// and the common case, an entry whose legs are all distinct, returns
// effects itself without allocating.
func merge(effects []Effect) ([]Effect, error) {
	if !hasDuplicates(effects) {
		return effects, nil
	}
	out := make([]Effect, 0, len(effects))
	for _, e := range effects {
		i := 0
		for ; i < len(out); i++ {
			if out[i].Account == e.Account && out[i].Asset == e.Asset {
				break
			}
		}
		if i == len(out) {
			out = append(out, e)
			continue
		}
		var ok bool
		if out[i].Posted, ok = money.AddUnits(out[i].Posted, e.Posted); !ok {
			return nil, overflowOn(e)
		}
		if out[i].Held, ok = money.AddUnits(out[i].Held, e.Held); !ok {
			return nil, overflowOn(e)
		}
	}
	return out, nil
}

func hasDuplicates(effects []Effect) bool {
	for i := range effects {
		for j := range i {
			if effects[i].Account == effects[j].Account && effects[i].Asset == effects[j].Asset {
				return true
			}
		}
	}
	return false
}

func overflowOn(e Effect) *fault.Error {
	return fault.New(money.CodeAmountOverflow, "The balance of %s in %s would overflow.", e.Account, e.Asset.Code()).
		With("account_id", e.Account).With("currency", e.Asset.Code())
}
