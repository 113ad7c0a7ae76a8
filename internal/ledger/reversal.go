package ledger

import (
	"github.com/fiscus/fiscus/internal/fault"
)

// Reverse builds the compensating entry for original: entry id, every
// posting inverted in the same order, linked by ReversalOf. Applying it
// restores every balance original changed, subject to the same floors (a
// customer who already spent a deposit cannot have it reversed into an
// overdraft). A reversal cannot itself be reversed; post a new entry
// instead. That an entry is reversed at most once is storage's to enforce,
// with CanReverse as its rule and a unique index on reversal_of as its lock.
func Reverse(original Entry, id string) (Entry, error) {
	if original.ReversalOf != "" {
		return Entry{}, fault.New(CodeEntryIsReversal, "Entry %s is a reversal and cannot be reversed.", original.ID).
			With("entry_id", original.ID)
	}
	ps := make([]Posting, len(original.Postings))
	for i, p := range original.Postings {
		inv, err := p.Amount.Neg()
		if err != nil {
			return Entry{}, err
		}
		ps[i] = Posting{Account: p.Account, Amount: inv}
	}
	return Entry{
		ID:         id,
		Postings:   ps,
		Memo:       "Reversal of " + original.ID,
		ReversalOf: original.ID,
	}, nil
}

// CanReverse is the at-most-once rule: reversedBy is the ID of the entry
// that already reverses original, or empty.
func CanReverse(original Entry, reversedBy string) error {
	if original.ReversalOf != "" {
		return fault.New(CodeEntryIsReversal, "Entry %s is a reversal and cannot be reversed.", original.ID).
			With("entry_id", original.ID)
	}
	if reversedBy != "" {
		return fault.New(CodeEntryReversed, "Entry %s was already reversed by %s.", original.ID, reversedBy).
			With("entry_id", original.ID).With("reversed_by", reversedBy)
	}
	return nil
}

// CheckReversal verifies that rev is exactly the reversal of original:
// linked to it, with the same postings inverted in the same order.
func CheckReversal(rev, original Entry) error {
	bad := func(why string) error {
		return fault.New(CodeInvalidReversal, "Entry %s is not a reversal of %s: %s.", rev.ID, original.ID, why).
			With("entry_id", rev.ID)
	}
	if original.ReversalOf != "" {
		return bad("the original is itself a reversal")
	}
	if rev.ReversalOf != original.ID {
		return bad("it is not linked to the original")
	}
	if len(rev.Postings) != len(original.Postings) {
		return bad("the number of postings differs")
	}
	for i, p := range original.Postings {
		q := rev.Postings[i]
		inv, err := p.Amount.Neg()
		if err != nil || q.Account != p.Account || q.Amount != inv {
			return bad("posting " + q.Account + " is not inverted")
		}
	}
	return nil
}
