package money_test

import (
	"math/big"
	"regexp"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// decimalSyntax is the grammar Parse documents, as an independent oracle.
var decimalSyntax = regexp.MustCompile(`^-?([0-9]+)(?:\.([0-9]+))?$`)

// referenceParse computes what Parse must answer using math/big: the code of
// the expected error, or the exact number of minor units.
func referenceParse(s string, a money.Asset) (*big.Int, fault.Code) {
	if len(s) == 0 || len(s) > money.MaxTextLen {
		return nil, money.CodeInvalidAmount
	}
	m := decimalSyntax.FindStringSubmatch(s)
	if m == nil {
		return nil, money.CodeInvalidAmount
	}
	frac := m[2]
	if len(frac) > a.Exponent() {
		return nil, money.CodeInvalidPrecision
	}
	for len(frac) < a.Exponent() {
		frac += "0"
	}
	v, _ := new(big.Int).SetString(m[1]+frac, 10)
	if s[0] == '-' {
		if v.Sign() == 0 {
			return nil, money.CodeInvalidAmount
		}
		v.Neg(v)
	}
	if !v.IsInt64() {
		return nil, money.CodeAmountOverflow
	}
	return v, ""
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"12.34", "-0.05", "0", "-0", "1e3", "+1", " 1", "1.", ".1", "1.234",
		"92233720368547758.07", "92233720368547758.08", "-92233720368547758.08",
		"9223372036854775807", "-9223372036854775808", "", "-", "1.2.3", "٣",
		"00000000000000000000000000000000000000001", "0.0000", "NaN",
	}
	for _, s := range seeds {
		for i := range assets {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, s string, pick uint8) {
		a := assets[int(pick)%len(assets)]
		got, err := money.Parse(s, a)
		want, code := referenceParse(s, a)
		if code != "" {
			if fault.CodeOf(err) != code {
				t.Fatalf("Parse(%q, %s) = %v, %v; want code %s", s, a, got, err, code)
			}
			return
		}
		if err != nil || got.Units() != want.Int64() || got.Asset() != a {
			t.Fatalf("Parse(%q, %s) = %d, %v; want %s", s, a, got.Units(), err, want)
		}
		back, err := money.Parse(got.Format(), a)
		if err != nil || back != got {
			t.Fatalf("round trip of %q via %q = %v, %v", s, got.Format(), back, err)
		}
	})
}

func FuzzAllocate(f *testing.F) {
	f.Add(int64(100), int64(1), int64(1), int64(1))
	f.Add(int64(-1000), int64(25), int64(9975), int64(0))
	f.Add(int64(-9223372036854775808), int64(3), int64(0), int64(7))
	f.Fuzz(func(t *testing.T, units, r1, r2, r3 int64) {
		a := money.New(units, usd)
		parts, err := a.Allocate(r1, r2, r3)
		if err != nil {
			if fault.CodeOf(err) != money.CodeInvalidAllocation {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		sum := new(big.Int)
		for _, p := range parts {
			sum.Add(sum, big.NewInt(p.Units()))
		}
		if !sum.IsInt64() || sum.Int64() != units {
			t.Fatalf("Allocate(%d, %d, %d, %d) sums to %s", units, r1, r2, r3, sum)
		}
	})
}
