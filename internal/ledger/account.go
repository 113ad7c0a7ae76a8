package ledger

import (
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// Kind is what an account is for. It decides the account's floor and which
// assets it may hold.
type Kind string

// Customer account kinds. Their available balance never goes below zero,
// except a credit account's, which may go down to minus its credit limit.
const (
	KindChecking   Kind = "checking"
	KindSavings    Kind = "savings"
	KindCredit     Kind = "credit"
	KindInvestment Kind = "investment" // holds its currency and any listed security
)

// System account kinds: the platform's own books. They have no floor (the
// external funding account is negative by exactly the money customers hold)
// and accept any asset.
const (
	KindExternal   Kind = "external"   // money entering or leaving the platform (funding, withdrawals, adjustments)
	KindFees       Kind = "fees"       // fees earned
	KindSettlement Kind = "settlement" // in-flight settlement with providers and counterparties
	KindMarket     Kind = "market"     // the counterparty of trades: shares and cash of the market
)

// Known reports whether k is one of the kinds above.
func (k Kind) Known() bool {
	switch k {
	case KindChecking, KindSavings, KindCredit, KindInvestment,
		KindExternal, KindFees, KindSettlement, KindMarket:
		return true
	}
	return false
}

// IsSystem reports whether k is a system kind.
func (k Kind) IsSystem() bool {
	switch k {
	case KindExternal, KindFees, KindSettlement, KindMarket:
		return true
	}
	return false
}

// Status is an account's lifecycle state.
type Status string

const (
	StatusActive Status = "active"
	StatusFrozen Status = "frozen" // no postings and no new holds; pending holds may still be voided or expire
	StatusClosed Status = "closed" // as frozen, for good
)

// MaxIDLen bounds account, entry and hold identifiers.
const MaxIDLen = 64

// Account is what the core needs to know about an account to judge an
// operation. Balances are kept separately, one per asset.
type Account struct {
	ID     string
	Kind   Kind
	Status Status
	// Currency is the cash asset of a customer account; postings in another
	// currency are refused. It is zero for system accounts, which accept any
	// asset.
	Currency money.Asset
	// CreditLimit, in minor units of Currency, is how far below zero a credit
	// account's available balance may go. Zero for every other kind.
	CreditLimit int64
}

// Validate checks the account's own rules.
func (a Account) Validate() error {
	switch {
	case !validID(a.ID):
		return field(CodeInvalidAccount, "id", "An account ID is 1 to %d letters, digits or _-.:", MaxIDLen)
	case !a.Kind.Known():
		return field(CodeInvalidAccount, "type", "Unknown account type %q.", clip(string(a.Kind)))
	case a.Status != StatusActive && a.Status != StatusFrozen && a.Status != StatusClosed:
		return field(CodeInvalidAccount, "status", "Unknown account status %q.", clip(string(a.Status)))
	case a.Kind.IsSystem() && !a.Currency.IsZero() && !a.Currency.IsCurrency():
		return field(CodeInvalidAccount, "currency", "An account currency must be a currency.")
	case !a.Kind.IsSystem() && !a.Currency.IsCurrency():
		return field(CodeInvalidAccount, "currency", "A customer account needs a currency.")
	case a.CreditLimit < 0:
		return field(CodeInvalidAccount, "credit_limit", "A credit limit cannot be negative.")
	case a.CreditLimit > 0 && a.Kind != KindCredit:
		return field(CodeInvalidAccount, "credit_limit", "Only credit accounts have a credit limit.")
	}
	return nil
}

// Floor is the lowest available balance, in minor units of asset, that an
// operation may leave on the account; bounded is false for system accounts,
// which have no floor.
func (a Account) Floor(asset money.Asset) (floor int64, bounded bool) {
	switch {
	case a.Kind.IsSystem():
		return 0, false
	case a.Kind == KindCredit && asset == a.Currency:
		return -a.CreditLimit, true
	}
	return 0, true
}

// Accepts reports whether the account may hold asset: system accounts hold
// anything, customer accounts their own currency, and investment accounts
// listed securities too.
func (a Account) Accepts(asset money.Asset) error {
	switch {
	case a.Kind.IsSystem() && (a.Currency.IsZero() || asset.IsSecurity() || asset == a.Currency):
		return nil
	case asset.IsSecurity() && a.Kind == KindInvestment:
		return nil
	case asset.IsSecurity():
		return fault.New(CodeAssetNotAllowed, "A %s account cannot hold %s.", a.Kind, asset.Code()).
			With("account_id", a.ID).With("asset", asset.Code())
	case asset != a.Currency:
		return fault.New(money.CodeCurrencyMismatch, "Account %s is in %s, not %s.", a.ID, a.Currency.Code(), asset.Code()).
			With("account_id", a.ID).With("currency", asset.Code()).With("account_currency", a.Currency.Code())
	}
	return nil
}

// usable refuses postings and new holds on frozen and closed accounts.
func (a Account) usable() error {
	switch a.Status {
	case StatusActive:
		return nil
	case StatusFrozen:
		return fault.New(CodeAccountFrozen, "Account %s is frozen.", a.ID).With("account_id", a.ID)
	}
	return fault.New(CodeAccountClosed, "Account %s is closed.", a.ID).With("account_id", a.ID)
}

// validID accepts 1 to MaxIDLen ASCII letters, digits and _-.: — enough for
// "acct_01JD3V6X4T6ZQ2M8Y7H0K1C9RE" and "sys:external:USD", nothing that
// needs escaping.
func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// clip bounds user-supplied text echoed back in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
