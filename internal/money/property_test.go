package money_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
	"pgregory.net/rapid"
)

// assets covers every exponent the package knows and a security.
var assets = []money.Asset{usd, jpy, bhd, clf, acme, money.MustCurrency("KRW"), money.MustCurrency("KWD")}

func genAsset() *rapid.Generator[money.Asset] { return rapid.SampledFrom(assets) }

// genUnits favours the edges, where wrapping bugs live.
func genUnits() *rapid.Generator[int64] {
	return rapid.OneOf(
		rapid.Int64(),
		rapid.Int64Range(-1000, 1000),
		rapid.SampledFrom([]int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64, math.MaxInt64 - 1, 0, 1, -1}),
		rapid.Int64Range(math.MaxInt64-1000, math.MaxInt64),
		rapid.Int64Range(math.MinInt64, math.MinInt64+1000),
	)
}

func TestPropParseFormatRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		a := money.New(genUnits().Draw(t, "units"), genAsset().Draw(t, "asset"))
		s := a.Format()
		got, err := money.Parse(s, a.Asset())
		if err != nil || got != a {
			t.Fatalf("Parse(Format(%d %s) = %q) = %v, %v", a.Units(), a.Asset(), s, got, err)
		}
	})
}

func TestPropParseRejectsExtraDecimal(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		a := money.New(genUnits().Draw(t, "units"), genAsset().Draw(t, "asset"))
		digit := rapid.IntRange(0, 9).Draw(t, "digit")
		s := a.Format()
		if a.Asset().Exponent() == 0 {
			s += "."
		}
		s += string(rune('0' + digit))
		_, err := money.Parse(s, a.Asset())
		if fault.CodeOf(err) != money.CodeInvalidPrecision {
			t.Fatalf("Parse(%q, %s) error %v, want invalid_precision", s, a.Asset(), err)
		}
	})
}

// checkAgainstBig asserts that an int64 operation either returns the exact
// mathematical result or reports overflow exactly when that result does not
// fit: it never wraps.
func checkAgainstBig(t *rapid.T, op string, got money.Amount, err error, exact *big.Int) {
	fits := exact.IsInt64()
	switch {
	case fits && err != nil:
		t.Fatalf("%s: exact %s fits, got error %v", op, exact, err)
	case fits && got.Units() != exact.Int64():
		t.Fatalf("%s: got %d, want %s", op, got.Units(), exact)
	case !fits && fault.CodeOf(err) != money.CodeAmountOverflow:
		t.Fatalf("%s: exact %s does not fit, got %d, %v", op, exact, got.Units(), err)
	}
}

func TestPropArithmeticNeverWraps(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		x, y := genUnits().Draw(t, "x"), genUnits().Draw(t, "y")
		a, b := money.New(x, usd), money.New(y, usd)
		bx, by := big.NewInt(x), big.NewInt(y)

		sum, err := a.Add(b)
		checkAgainstBig(t, "add", sum, err, new(big.Int).Add(bx, by))
		diff, err := a.Sub(b)
		checkAgainstBig(t, "sub", diff, err, new(big.Int).Sub(bx, by))
		prod, err := a.Mul(y)
		checkAgainstBig(t, "mul", prod, err, new(big.Int).Mul(bx, by))
		neg, err := a.Neg()
		checkAgainstBig(t, "neg", neg, err, new(big.Int).Neg(bx))
		abs, err := a.Abs()
		checkAgainstBig(t, "abs", abs, err, new(big.Int).Abs(bx))
		if c, err := a.Cmp(b); err != nil || c != bx.Cmp(by) {
			t.Fatalf("Cmp(%d, %d) = %d, %v", x, y, c, err)
		}
	})
}

func TestPropSplitSumsExactly(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		a := money.New(genUnits().Draw(t, "units"), genAsset().Draw(t, "asset"))
		n := rapid.IntRange(1, 200).Draw(t, "n")
		parts, err := a.Split(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != n {
			t.Fatalf("%d parts, want %d", len(parts), n)
		}
		total := new(big.Int)
		lo, hi := parts[0].Units(), parts[0].Units()
		for _, p := range parts {
			if p.Asset() != a.Asset() {
				t.Fatalf("part in %s, want %s", p.Asset(), a.Asset())
			}
			total.Add(total, big.NewInt(p.Units()))
			lo, hi = min(lo, p.Units()), max(hi, p.Units())
		}
		if !total.IsInt64() || total.Int64() != a.Units() {
			t.Fatalf("parts of %d sum to %s", a.Units(), total)
		}
		if new(big.Int).Sub(big.NewInt(hi), big.NewInt(lo)).Cmp(big.NewInt(1)) > 0 {
			t.Fatalf("parts differ by more than one unit: %d..%d", lo, hi)
		}
	})
}

func TestPropAllocateSumsExactly(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		a := money.New(genUnits().Draw(t, "units"), usd)
		ratios := rapid.SliceOfN(rapid.Int64Range(0, 1_000_000), 1, 50).Draw(t, "ratios")
		var total int64
		for _, r := range ratios {
			total += r
		}
		parts, err := a.Allocate(ratios...)
		if total == 0 {
			if fault.CodeOf(err) != money.CodeInvalidAllocation {
				t.Fatalf("zero ratios: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := new(big.Int)
		for i, p := range parts {
			sum.Add(sum, big.NewInt(p.Units()))
			// Each part is its exact share rounded down or up by less than one unit.
			exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(a.Units()), big.NewInt(ratios[i])), big.NewInt(total))
			delta := new(big.Rat).Sub(new(big.Rat).SetInt64(p.Units()), exact)
			if delta.Abs(delta).Cmp(big.NewRat(1, 1)) >= 0 {
				t.Fatalf("part %d = %d, exact share %s", i, p.Units(), exact.RatString())
			}
			if ratios[i] == 0 && p.Units() != 0 {
				t.Fatalf("zero ratio got %d", p.Units())
			}
			if p.Sign()*a.Sign() < 0 {
				t.Fatalf("part %d has the wrong sign", i)
			}
		}
		if !sum.IsInt64() || sum.Int64() != a.Units() {
			t.Fatalf("parts of %d sum to %s", a.Units(), sum)
		}
	})
}
