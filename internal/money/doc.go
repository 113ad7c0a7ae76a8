// Package money holds Fiscus's amounts and assets: integer minor units tied to
// an asset (an ISO 4217 currency or a listed security).
//
// Guarantees:
//   - No floating point. An Amount is an int64 count of minor units (cents for
//     USD, yen for JPY, fils for BHD, shares for a security); decimal text is
//     parsed straight to minor units and formatted back exactly.
//   - Arithmetic never wraps. Add, Sub, Neg, Abs, Mul and Sum return an error
//     with code amount_overflow instead; math.MinInt64 is a value like any
//     other, but negating it is an overflow.
//   - Assets never mix. Combining amounts of different assets fails with
//     currency_mismatch.
//   - Parsing never rounds. More decimals than the asset's exponent is
//     invalid_precision; anything but plain decimal digits with an optional
//     leading minus and one decimal point is invalid_amount.
//   - Splitting never loses a minor unit. Split and Allocate return parts that
//     sum exactly to the input (largest-remainder method).
//
// Every error is a *fault.Error with one of the Code constants of this
// package. The package has no mutable package-level state: the ISO table is
// read-only, and listed securities live in a Registry value that callers own.
package money
