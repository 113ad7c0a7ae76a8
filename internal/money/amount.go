package money

import (
	"math"
	"math/bits"
)

// Amount is a signed count of minor units of one asset: New(1234, USD) is
// 12.34 USD, New(10, ACME) is ten shares of ACME. Amounts are immutable
// values; every operation returns a new one. The zero Amount has the zero
// (invalid) Asset.
type Amount struct {
	units int64
	asset Asset
}

// New returns units minor units of asset a.
func New(units int64, a Asset) Amount { return Amount{units: units, asset: a} }

// Zero returns zero of asset a.
func Zero(a Asset) Amount { return Amount{asset: a} }

// Units is the amount in minor units.
func (a Amount) Units() int64 { return a.units }

// Asset is what the amount counts.
func (a Amount) Asset() Asset { return a.asset }

// IsZero reports whether the amount is zero minor units.
func (a Amount) IsZero() bool { return a.units == 0 }

// IsPositive reports whether the amount is above zero.
func (a Amount) IsPositive() bool { return a.units > 0 }

// IsNegative reports whether the amount is below zero.
func (a Amount) IsNegative() bool { return a.units < 0 }

// Sign is -1, 0 or +1.
func (a Amount) Sign() int {
	switch {
	case a.units < 0:
		return -1
	case a.units > 0:
		return 1
	}
	return 0
}

// Equal reports whether a and b are the same number of minor units of the
// same asset.
func (a Amount) Equal(b Amount) bool { return a == b }

// Cmp compares a and b: -1 if a < b, 0 if equal, +1 if a > b. Amounts of
// different assets are not comparable.
func (a Amount) Cmp(b Amount) (int, error) {
	if a.asset != b.asset {
		return 0, mismatch(a.asset, b.asset)
	}
	switch {
	case a.units < b.units:
		return -1, nil
	case a.units > b.units:
		return 1, nil
	}
	return 0, nil
}

// Add returns a + b.
func (a Amount) Add(b Amount) (Amount, error) {
	if a.asset != b.asset {
		return Amount{}, mismatch(a.asset, b.asset)
	}
	s, ok := AddUnits(a.units, b.units)
	if !ok {
		return Amount{}, overflow("addition")
	}
	return Amount{units: s, asset: a.asset}, nil
}

// Sub returns a - b.
func (a Amount) Sub(b Amount) (Amount, error) {
	if a.asset != b.asset {
		return Amount{}, mismatch(a.asset, b.asset)
	}
	d, ok := SubUnits(a.units, b.units)
	if !ok {
		return Amount{}, overflow("subtraction")
	}
	return Amount{units: d, asset: a.asset}, nil
}

// Neg returns -a. Negating math.MinInt64 minor units overflows.
func (a Amount) Neg() (Amount, error) {
	if a.units == math.MinInt64 {
		return Amount{}, overflow("negation")
	}
	return Amount{units: -a.units, asset: a.asset}, nil
}

// Abs returns |a|. The absolute value of math.MinInt64 minor units overflows.
func (a Amount) Abs() (Amount, error) {
	if a.units >= 0 {
		return a, nil
	}
	return a.Neg()
}

// Mul returns a × n, for example a price per share times a quantity.
func (a Amount) Mul(n int64) (Amount, error) {
	p, ok := MulUnits(a.units, n)
	if !ok {
		return Amount{}, overflow("multiplication")
	}
	return Amount{units: p, asset: a.asset}, nil
}

// MaxSum bounds the number of amounts Sum adds in one call.
const MaxSum = 1 << 20

// Sum adds amounts of asset a; it is Zero(a) for no amounts.
func Sum(a Asset, xs ...Amount) (Amount, error) {
	if len(xs) > MaxSum {
		return Amount{}, overflow("sum")
	}
	total := Zero(a)
	for _, x := range xs {
		var err error
		if total, err = total.Add(x); err != nil {
			return Amount{}, err
		}
	}
	return total, nil
}

// AddUnits returns x + y and whether it fits in an int64. It is exported so
// that code keeping raw minor units (ledger balances) shares one overflow
// rule with Amount.
func AddUnits(x, y int64) (int64, bool) {
	s := x + y // wraps on overflow; the sign test below detects it
	// Overflow happened iff x and y have the same sign and s has the other.
	return s, (x >= 0) != (y >= 0) || (s >= 0) == (x >= 0)
}

// SubUnits returns x - y and whether it fits in an int64.
func SubUnits(x, y int64) (int64, bool) {
	d := x - y
	// Overflow happened iff x and y have different signs and d has y's sign.
	return d, (x >= 0) == (y >= 0) || (d >= 0) == (x >= 0)
}

// MulUnits returns x × y and whether it fits in an int64.
func MulUnits(x, y int64) (int64, bool) {
	neg := (x < 0) != (y < 0)
	hi, lo := bits.Mul64(magnitude(x), magnitude(y))
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return negate(lo), true
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// magnitude returns |x| as a uint64; it is exact for math.MinInt64.
func magnitude(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

// negate returns -m as an int64 for m ≤ 2^63 (two's complement).
func negate(m uint64) int64 { return int64(-m) }
