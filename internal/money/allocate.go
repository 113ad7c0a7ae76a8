package money

import (
	"math/bits"
	"slices"

	"github.com/fiscus/fiscus/internal/fault"
)

// MaxParts bounds the number of parts Split and Allocate produce.
const MaxParts = 10_000

// Split divides a into n parts that differ by at most one minor unit and sum
// exactly to a. The first parts get the extra units: 1.00 USD in 3 is
// 0.34, 0.33, 0.33; -1.00 USD in 3 is -0.34, -0.33, -0.33.
func (a Amount) Split(n int) ([]Amount, error) {
	if n < 1 || n > MaxParts {
		return nil, fault.New(CodeInvalidAllocation, "An amount can be split into 1 to %d parts.", MaxParts)
	}
	q, r := a.units/int64(n), a.units%int64(n) // r has a's sign
	step := int64(1)
	if r < 0 {
		step, r = -1, -r
	}
	out := make([]Amount, n)
	for i := range out {
		out[i] = Amount{units: q, asset: a.asset}
		if int64(i) < r {
			out[i].units += step // |q| + 1 ≤ |a|: cannot overflow
		}
	}
	return out, nil
}

// Allocate divides a in proportion to ratios (for example 70, 30 or basis
// points) without losing a minor unit: each part gets the floor of its exact
// share, and the units left over go one each to the parts with the largest
// remainders, ties to the earlier part (largest-remainder method). The parts
// sum exactly to a and carry a's sign. Ratios must be non-negative with a
// positive total that fits in an int64; a zero ratio gets zero.
func (a Amount) Allocate(ratios ...int64) ([]Amount, error) {
	if len(ratios) < 1 || len(ratios) > MaxParts {
		return nil, fault.New(CodeInvalidAllocation, "An amount can be allocated to 1 to %d parts.", MaxParts)
	}
	var total uint64
	for _, r := range ratios {
		if r < 0 {
			return nil, fault.New(CodeInvalidAllocation, "Ratios must not be negative.")
		}
		t, ok := AddUnits(int64(total), r)
		if !ok {
			return nil, fault.New(CodeInvalidAllocation, "The ratios add up to more than an int64.")
		}
		total = uint64(t)
	}
	if total == 0 {
		return nil, fault.New(CodeInvalidAllocation, "At least one ratio must be positive.")
	}
	mag := magnitude(a.units)
	shares := make([]uint64, len(ratios))
	rems := make([]uint64, len(ratios))
	var given uint64
	for i, r := range ratios {
		// mag × r / total in 128 bits; r ≤ total keeps the quotient ≤ mag,
		// so hi < total and Div64 cannot panic.
		hi, lo := bits.Mul64(mag, uint64(r))
		shares[i], rems[i] = bits.Div64(hi, lo, total)
		given += shares[i]
	}
	// Each floor loses less than one unit, so fewer than len(ratios) units
	// are left over.
	left := mag - given
	if left > 0 {
		order := make([]int, len(ratios))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(x, y int) int {
			switch {
			case rems[x] > rems[y]:
				return -1
			case rems[x] < rems[y]:
				return 1
			}
			return 0
		})
		for _, i := range order[:left] {
			shares[i]++
		}
	}
	out := make([]Amount, len(ratios))
	for i, s := range shares {
		u := int64(s) // s ≤ mag ≤ 2^63; only a negative a can reach 2^63
		if a.units < 0 {
			u = negate(s)
		}
		out[i] = Amount{units: u, asset: a.asset}
	}
	return out, nil
}
