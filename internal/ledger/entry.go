package ledger

import (
	"strconv"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// Limits on one entry.
const (
	MinPostings         = 2
	MaxPostings         = 64
	MaxMemoLen          = 512 // bytes of UTF-8
	MaxMetadata         = 32  // keys
	MaxMetadataKeyLen   = 64  // bytes
	MaxMetadataValueLen = 512 // bytes of UTF-8
)

// Posting moves Amount into (positive, a credit) or out of (negative, a
// debit) one account's balance in Amount's asset. See the package comment
// for the sign convention.
type Posting struct {
	Account string
	Amount  money.Amount
}

// Entry is one balanced journal entry. Once accepted it is never changed;
// it is undone by a reversal entry (see Reverse).
type Entry struct {
	ID       string
	Postings []Posting
	Memo     string
	// ReversalOf is the ID of the entry this one reverses, or empty.
	ReversalOf string
	Metadata   map[string]string
}

// Validate checks an entry on its own, before any balance is read: an ID,
// MinPostings to MaxPostings postings, each to a valid account ID with a
// non-zero amount in an asset known to assets, at most one posting per
// (account, asset), postings summing to zero in every asset, and bounded
// memo and metadata. The total moved in one asset must fit in an int64.
func (e Entry) Validate(assets *money.Registry) error {
	if !validID(e.ID) {
		return field(CodeInvalidEntry, "id", "An entry ID is 1 to %d letters, digits or _-.:", MaxIDLen)
	}
	if e.ReversalOf != "" && !validID(e.ReversalOf) {
		return field(CodeInvalidEntry, "reversal_of", "Not a valid entry ID.")
	}
	if len(e.Postings) < MinPostings {
		return field(CodeTooFewPostings, "postings", "An entry needs at least %d postings.", MinPostings)
	}
	if len(e.Postings) > MaxPostings {
		return field(CodeTooManyPostings, "postings", "An entry has at most %d postings.", MaxPostings)
	}
	if err := validateText(e.Memo, e.Metadata); err != nil {
		return err
	}
	if err := e.validatePostings(assets); err != nil {
		return err
	}
	return checkBalanced(e.Postings)
}

func (e Entry) validatePostings(assets *money.Registry) error {
	for i, p := range e.Postings {
		if !validID(p.Account) {
			return field(CodeInvalidEntry, postingPath(i, "account_id"), "An account ID is 1 to %d letters, digits or _-.:", MaxIDLen)
		}
		a := p.Amount.Asset()
		if !assets.Known(a) {
			return field(money.CodeUnknownAsset, postingPath(i, "currency"), "Unknown currency or symbol %q.", clip(a.Code())).
				With("asset", clip(a.Code()))
		}
		if p.Amount.IsZero() {
			return field(money.CodeInvalidAmount, postingPath(i, "amount"), "A posting amount cannot be zero.")
		}
		for j := range i {
			if e.Postings[j].Account == p.Account && e.Postings[j].Amount.Asset() == a {
				return field(CodeDuplicatePosting, postingPath(i, "account_id"), "Account %s already has a posting in %s.", p.Account, a.Code()).
					With("account_id", p.Account).With("currency", a.Code())
			}
		}
	}
	return nil
}

// checkBalanced verifies that credits equal debits in every asset. Credits
// and debits are summed separately, each overflow-checked, so the outcome
// does not depend on the order of the postings.
func checkBalanced(ps []Posting) error {
	type total struct {
		asset           money.Asset
		credits, debits int64
	}
	var totals [MaxPostings]total
	n := 0
	for _, p := range ps {
		a, u := p.Amount.Asset(), p.Amount.Units()
		i := 0
		for ; i < n && totals[i].asset != a; i++ {
		}
		if i == n {
			totals[n].asset = a
			n++
		}
		var ok bool
		if u > 0 {
			totals[i].credits, ok = money.AddUnits(totals[i].credits, u)
		} else {
			totals[i].debits, ok = money.SubUnits(totals[i].debits, u) // -u, overflow-checked (math.MinInt64)
		}
		if !ok {
			return fault.New(money.CodeAmountOverflow, "The amounts in %s add up to more than can be represented.", a.Code()).
				With("currency", a.Code())
		}
	}
	for _, t := range totals[:n] {
		if t.credits != t.debits {
			return fault.New(CodeUnbalancedEntry, "The postings in %s do not balance: credits %s, debits %s.", t.asset.Code(),
				money.New(t.credits, t.asset).Format(), money.New(t.debits, t.asset).Format()).
				With("currency", t.asset.Code()).With("credits", t.credits).With("debits", t.debits)
		}
	}
	return nil
}

func validateText(memo string, meta map[string]string) error {
	if len(memo) > MaxMemoLen || !utf8.ValidString(memo) {
		return field(CodeInvalidEntry, "memo", "A memo is valid UTF-8 of at most %d bytes.", MaxMemoLen)
	}
	if len(meta) > MaxMetadata {
		return field(CodeInvalidEntry, "metadata", "At most %d metadata keys.", MaxMetadata)
	}
	for k, v := range meta {
		if len(k) == 0 || len(k) > MaxMetadataKeyLen || !utf8.ValidString(k) {
			return field(CodeInvalidEntry, "metadata", "A metadata key is valid UTF-8 of 1 to %d bytes.", MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValueLen || !utf8.ValidString(v) {
			return field(CodeInvalidEntry, "metadata."+clip(k), "A metadata value is valid UTF-8 of at most %d bytes.", MaxMetadataValueLen)
		}
	}
	return nil
}

// Effects returns the balance changes of the entry: one per posting.
func (e Entry) Effects() []Effect {
	out := make([]Effect, len(e.Postings))
	for i, p := range e.Postings {
		out[i] = Effect{Account: p.Account, Asset: p.Amount.Asset(), Posted: p.Amount.Units()}
	}
	return out
}

// ApplyEntry validates e and applies it to the balances in v: the new
// balance of every posting's (account, asset), in posting order.
func ApplyEntry(e Entry, assets *money.Registry, v View) ([]Balance, error) {
	if err := e.Validate(assets); err != nil {
		return nil, err
	}
	return Apply(e.Effects(), v)
}

func postingPath(i int, name string) string {
	return "postings[" + strconv.Itoa(i) + "]." + name
}
