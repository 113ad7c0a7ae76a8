package ledger

import (
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// HoldStatus is a hold's state. Pending is the only state that moves:
//
//	pending ──Post──▶ posted
//	   ├─────Void──▶ voided
//	   └───Expire──▶ expired
//
// Posted, voided and expired are final.
type HoldStatus string

const (
	HoldPending HoldStatus = "pending"
	HoldPosted  HoldStatus = "posted"
	HoldVoided  HoldStatus = "voided"
	HoldExpired HoldStatus = "expired"
)

// Hold reserves part of an account's available balance for a later posting
// to Destination: a card authorization, an order's cash or shares, a payout
// in flight. While pending, the reserved amount counts in the account's
// Held, so its available balance drops and its ledger balance does not.
//
// Posting may take less than the reserved amount (a partial post); the
// remainder is released at once and the hold is final. A hold is posted at
// most once: a second capture needs a new hold.
type Hold struct {
	ID          string
	Account     string       // whose available balance is reserved
	Destination string       // credited when the hold is posted
	Amount      money.Amount // reserved; positive
	// Deadline is the instant the hold expires; zero means never. From the
	// deadline on, a pending hold can only be expired.
	Deadline time.Time
	Status   HoldStatus
	// Posted is what was actually posted, in minor units (status posted).
	Posted int64
	// EntryID is the entry that posted the hold (status posted).
	EntryID string
}

// Outcome is the result of creating a hold or moving it to a new state:
// the hold as it now is, the entry to record with it (Post only), and the
// effects to pass to Apply in the same transaction.
type Outcome struct {
	Hold    Hold
	Entry   *Entry
	Effects []Effect
}

// HoldRequest describes a new hold.
type HoldRequest struct {
	ID          string
	Account     string
	Destination string
	Amount      money.Amount
	Deadline    time.Time // zero: never expires
}

// Reserve creates a pending hold. Its effect raises Held on the account (so
// Apply checks the floor, exactly as for a debit) and touches the
// destination, so that a missing, frozen or unsuitable destination is
// refused now rather than at posting time.
func Reserve(r HoldRequest, assets *money.Registry, now time.Time) (Outcome, error) {
	switch {
	case !validID(r.ID):
		return Outcome{}, field(CodeInvalidHold, "id", "A hold ID is 1 to %d letters, digits or _-.:", MaxIDLen)
	case !validID(r.Account):
		return Outcome{}, field(CodeInvalidHold, "account_id", "Not a valid account ID.")
	case !validID(r.Destination):
		return Outcome{}, field(CodeInvalidHold, "destination_account_id", "Not a valid account ID.")
	case r.Account == r.Destination:
		return Outcome{}, field(CodeInvalidHold, "destination_account_id", "A hold cannot be posted to its own account.")
	case !assets.Known(r.Amount.Asset()):
		return Outcome{}, field(money.CodeUnknownAsset, "currency", "Unknown currency or symbol %q.", clip(r.Amount.Asset().Code()))
	case !r.Amount.IsPositive():
		return Outcome{}, field(money.CodeInvalidAmount, "amount", "A hold amount must be greater than zero.")
	case !r.Deadline.IsZero() && !now.Before(r.Deadline):
		return Outcome{}, field(CodeInvalidHold, "deadline", "The deadline has already passed.")
	}
	h := Hold{
		ID: r.ID, Account: r.Account, Destination: r.Destination,
		Amount: r.Amount, Deadline: r.Deadline, Status: HoldPending,
	}
	a := r.Amount.Asset()
	return Outcome{Hold: h, Effects: []Effect{
		{Account: r.Account, Asset: a, Held: r.Amount.Units()},
		{Account: r.Destination, Asset: a},
	}}, nil
}

// Post captures amount (0 < amount ≤ the hold's amount) of a pending hold
// that has not reached its deadline: it returns entry entryID moving amount
// from the account to the destination, and releases the whole reservation,
// so any remainder becomes available again.
func (h Hold) Post(entryID string, amount money.Amount, now time.Time) (Outcome, error) {
	if err := h.pending(now); err != nil {
		return Outcome{}, err
	}
	if !validID(h.Account) || !validID(h.Destination) || h.Account == h.Destination {
		return Outcome{}, fault.New(CodeInvalidHold, "Hold %s has no valid pair of accounts.", h.ID).With("hold_id", h.ID)
	}
	if !validID(entryID) {
		return Outcome{}, field(CodeInvalidEntry, "id", "An entry ID is 1 to %d letters, digits or _-.:", MaxIDLen)
	}
	if amount.Asset() != h.Amount.Asset() {
		return Outcome{}, fault.New(money.CodeCurrencyMismatch, "Hold %s is in %s, not %s.", h.ID, h.Amount.Asset().Code(), amount.Asset().Code()).
			With("hold_id", h.ID).With("currency", amount.Asset().Code())
	}
	if !amount.IsPositive() {
		return Outcome{}, field(money.CodeInvalidAmount, "amount", "A posted amount must be greater than zero.")
	}
	if amount.Units() > h.Amount.Units() {
		return Outcome{}, fault.New(CodeHoldAmountExceeded, "Hold %s reserved %s; %s cannot be posted.", h.ID, h.Amount, amount).
			With("hold_id", h.ID).With("needed", amount.Units()).With("available", h.Amount.Units()).
			With("currency", h.Amount.Asset().Code())
	}
	debit, err := amount.Neg()
	if err != nil {
		return Outcome{}, err
	}
	e := Entry{
		ID:       entryID,
		Postings: []Posting{{Account: h.Account, Amount: debit}, {Account: h.Destination, Amount: amount}},
		Metadata: map[string]string{"hold_id": h.ID},
	}
	next := h
	next.Status, next.Posted, next.EntryID = HoldPosted, amount.Units(), entryID
	effects := append(e.Effects(), h.release())
	return Outcome{Hold: next, Entry: &e, Effects: effects}, nil
}

// Void cancels a pending hold before its deadline and releases it.
func (h Hold) Void(now time.Time) (Outcome, error) {
	if err := h.pending(now); err != nil {
		return Outcome{}, err
	}
	next := h
	next.Status = HoldVoided
	return Outcome{Hold: next, Effects: []Effect{h.release()}}, nil
}

// Expire ends a pending hold whose deadline has come (now ≥ Deadline) and
// releases it.
func (h Hold) Expire(now time.Time) (Outcome, error) {
	if h.Status != HoldPending {
		return Outcome{}, h.notPending()
	}
	if !h.Expired(now) {
		return Outcome{}, fault.New(CodeHoldNotExpired, "Hold %s has not reached its deadline.", h.ID).With("hold_id", h.ID)
	}
	next := h
	next.Status = HoldExpired
	return Outcome{Hold: next, Effects: []Effect{h.release()}}, nil
}

// Expired reports whether the hold has a deadline and now has reached it.
func (h Hold) Expired(now time.Time) bool {
	return !h.Deadline.IsZero() && !now.Before(h.Deadline)
}

// pending refuses a transition out of anything but a live pending hold.
func (h Hold) pending(now time.Time) error {
	if h.Status != HoldPending {
		return h.notPending()
	}
	if h.Expired(now) {
		return fault.New(CodeHoldExpired, "Hold %s has expired.", h.ID).With("hold_id", h.ID)
	}
	return nil
}

func (h Hold) notPending() *fault.Error {
	return fault.New(CodeHoldNotPending, "Hold %s is %s, not pending.", h.ID, h.Status).
		With("hold_id", h.ID).With("status", string(h.Status))
}

// release is the effect that gives the whole reservation back.
func (h Hold) release() Effect {
	return Effect{Account: h.Account, Asset: h.Amount.Asset(), Held: -h.Amount.Units()}
}
