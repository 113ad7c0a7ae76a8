package ledger

import "github.com/fiscus/fiscus/internal/fault"

// Stable error codes of this package. Clients may switch on them; they are
// never renamed. Amount and asset problems use the codes of package money
// (invalid_amount, amount_overflow, currency_mismatch, unknown_asset).
const (
	CodeInvalidEntry        fault.Code = "invalid_entry"          // missing ID, oversized memo or metadata, bad account ID
	CodeTooFewPostings      fault.Code = "too_few_postings"       // fewer than MinPostings
	CodeTooManyPostings     fault.Code = "too_many_postings"      // more than MaxPostings
	CodeUnbalancedEntry     fault.Code = "unbalanced_entry"       // postings do not sum to zero in some asset
	CodeDuplicatePosting    fault.Code = "duplicate_posting"      // two postings to the same account and asset
	CodeInvalidAccount      fault.Code = "invalid_account"        // an Account value breaks its own rules
	CodeAccountNotFound     fault.Code = "account_not_found"      // a posting or hold names an unknown account
	CodeAccountFrozen       fault.Code = "account_frozen"         // frozen accounts take no postings or new holds
	CodeAccountClosed       fault.Code = "account_closed"         // closed accounts take no postings or new holds
	CodeAssetNotAllowed     fault.Code = "asset_not_allowed"      // a security on an account that cannot hold one
	CodeInsufficientFunds   fault.Code = "insufficient_funds"     // available balance would drop below zero
	CodeCreditLimitExceeded fault.Code = "credit_limit_exceeded"  // available balance would drop below -credit limit
	CodeInvalidEffect       fault.Code = "invalid_effect"         // effects that would make a held amount negative
	CodeInvalidHold         fault.Code = "invalid_hold"           // a hold request breaks the rules
	CodeHoldNotPending      fault.Code = "hold_not_pending"       // the hold is already posted, voided or expired
	CodeHoldExpired         fault.Code = "hold_expired"           // the hold's deadline has passed
	CodeHoldNotExpired      fault.Code = "hold_not_expired"       // expiring a hold before its deadline
	CodeHoldAmountExceeded  fault.Code = "hold_amount_exceeded"   // posting more than the hold reserved
	CodeEntryIsReversal     fault.Code = "entry_is_reversal"      // a reversal cannot itself be reversed
	CodeEntryReversed       fault.Code = "entry_already_reversed" // an entry is reversed at most once
	CodeInvalidReversal     fault.Code = "invalid_reversal"       // an entry is not the exact inverse of its original
)

// field returns a fault with code and one field detail naming the offending
// input by its JSON path.
func field(code fault.Code, path, format string, args ...any) *fault.Error {
	e := fault.New(code, format, args...)
	e.Fields = []fault.FieldError{{Field: path, Code: string(code), Message: e.Message}}
	return e
}
