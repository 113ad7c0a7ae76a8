// Package ledger is the pure core of Fiscus's double-entry ledger: accounts,
// balances, journal entries, holds and reversals, as values and functions
// with no I/O, no clock and no randomness. Storage reads the rows an
// operation touches, asks this package for the new state, and writes it back
// in the same database transaction.
//
// Sign convention: a Posting carries a signed amount from the account
// holder's point of view. A positive amount is a credit: the account's
// balance goes up (a deposit lands in a checking account). A negative amount
// is a debit: the balance goes down. Every balance, customer and system,
// uses the same convention, so money entering the platform drives the
// external funding account negative, and the balances of all accounts in one
// asset always add up to exactly zero.
//
// Guarantees:
//   - Conservation: an entry is accepted only if its postings sum to zero in
//     every asset, so no operation creates or destroys money or shares.
//   - Floors: an operation that lowers an account's available balance
//     (ledger balance minus held) is refused if that balance would end below
//     the account's floor: zero for customer accounts, minus the credit limit
//     for a credit account in its currency, none for system accounts.
//     Refusals carry machine-readable needed and available amounts.
//   - Immutability: entries are values; mistakes are undone by a reversal
//     entry that inverts every posting and links to the original.
//   - Holds follow a strict state machine: pending → posted, voided or
//     expired, all final. A voided or expired hold is never posted; a posted
//     one is never voided.
//   - No wrapping: every sum is overflow-checked (see package money).
//
// Every error is a *fault.Error with a stable code from this package or from
// package money.
package ledger
