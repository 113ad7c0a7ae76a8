package money

import "github.com/fiscus/fiscus/internal/fault"

// Stable error codes of this package. Clients may switch on them; they are
// never renamed.
const (
	CodeAmountOverflow    fault.Code = "amount_overflow"    // a result does not fit in int64 minor units
	CodeInvalidAmount     fault.Code = "invalid_amount"     // malformed text, or a sign or zero where not allowed
	CodeInvalidPrecision  fault.Code = "invalid_precision"  // more decimals than the asset's exponent
	CodeCurrencyMismatch  fault.Code = "currency_mismatch"  // two amounts, or an amount and an account, of different assets
	CodeUnknownCurrency   fault.Code = "unknown_currency"   // not an ISO 4217 currency this registry knows
	CodeUnknownSymbol     fault.Code = "unknown_symbol"     // not a listed security
	CodeUnknownAsset      fault.Code = "unknown_asset"      // neither a known currency nor a listed security
	CodeInvalidSymbol     fault.Code = "invalid_symbol"     // not 1-12 upper-case letters or digits, or an ISO currency code
	CodeInvalidAllocation fault.Code = "invalid_allocation" // bad part count or ratios for Split or Allocate
)

func overflow(op string) *fault.Error {
	return fault.New(CodeAmountOverflow, "The amount is too large (%s overflows).", op)
}

func mismatch(a, b Asset) *fault.Error {
	return fault.New(CodeCurrencyMismatch, "Amounts in %s and %s cannot be combined.", a.code, b.code).
		With("currency", a.code).With("other_currency", b.code)
}
