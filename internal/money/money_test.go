package money_test

import (
	"math"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

var (
	usd  = money.MustCurrency("USD")
	eur  = money.MustCurrency("EUR")
	jpy  = money.MustCurrency("JPY")
	bhd  = money.MustCurrency("BHD")
	clf  = money.MustCurrency("CLF")
	acme = money.MustSecurity("ACME")
)

// wantCode fails t unless err is a *fault.Error with the given code (or nil
// when code is empty).
func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if _, ok := fault.As(err); !ok {
		t.Fatalf("error %v is not a *fault.Error", err)
	}
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("code %s (%v), want %s", got, err, code)
	}
}

func TestCurrencyExponents(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2, "CAD": 2, "AUD": 2,
		"NZD": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2,
		"ZAR": 2, "INR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "KRW": 0, "BHD": 3,
		"KWD": 3, "JOD": 3, "OMR": 3, "TND": 3, "CLP": 0, "ISK": 0, "VND": 0,
		"MXN": 2, "BRL": 2, "CLF": 4,
	}
	for code, exp := range want {
		a, err := money.Currency(code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if a.Exponent() != exp || a.Code() != code || !a.IsCurrency() || a.IsSecurity() || a.IsZero() {
			t.Errorf("%s: got %+v exponent %d, want exponent %d", code, a, a.Exponent(), exp)
		}
	}
	all := money.Currencies()
	for i := 1; i < len(all); i++ {
		if all[i-1].Code() >= all[i].Code() {
			t.Fatalf("Currencies not sorted at %d: %s, %s", i, all[i-1], all[i])
		}
	}
	if len(all) < len(want) {
		t.Fatalf("Currencies has %d, want at least %d", len(all), len(want))
	}
}

func TestCurrencyUnknown(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"", "usd", "US", "USDD", "XAU", "ACME", " USD"} {
		_, err := money.Currency(code)
		wantCode(t, err, money.CodeUnknownCurrency)
	}
}

func TestSecurity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		symbol string
		code   fault.Code
	}{
		{"ACME", ""},
		{"A", ""},
		{"BRK2", ""},
		{"0700", ""},
		{"ABCDEFGHIJKL", ""},
		{"ABCDEFGHIJKLM", money.CodeInvalidSymbol},
		{"", money.CodeInvalidSymbol},
		{"acme", money.CodeInvalidSymbol},
		{"AC ME", money.CodeInvalidSymbol},
		{"BRK.B", money.CodeInvalidSymbol},
		{"ÄCME", money.CodeInvalidSymbol},
		{"USD", money.CodeInvalidSymbol}, // a currency is never a share
		{"JPY", money.CodeInvalidSymbol},
	}
	for _, tt := range tests {
		a, err := money.Security(tt.symbol)
		wantCode(t, err, tt.code)
		if tt.code == "" && (a.Code() != tt.symbol || a.Exponent() != 0 || !a.IsSecurity() || a.Kind() != money.KindSecurity) {
			t.Errorf("Security(%q) = %+v", tt.symbol, a)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r, err := money.NewRegistry("ACME", "GLOBEX")
	wantCode(t, err, "")
	if a, err := r.Lookup("USD"); err != nil || a != usd {
		t.Fatalf("Lookup(USD) = %v, %v", a, err)
	}
	if a, err := r.Lookup("ACME"); err != nil || a != acme {
		t.Fatalf("Lookup(ACME) = %v, %v", a, err)
	}
	_, err = r.Lookup("INITECH")
	wantCode(t, err, money.CodeUnknownAsset)
	_, err = r.Security("INITECH")
	wantCode(t, err, money.CodeUnknownSymbol)
	_, err = r.Security("USD")
	wantCode(t, err, money.CodeUnknownSymbol)
	_, err = r.Currency("ACME")
	wantCode(t, err, money.CodeUnknownCurrency)

	r2, err := r.With("INITECH", "ACME")
	wantCode(t, err, "")
	if _, err := r2.Security("INITECH"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Security("INITECH"); err == nil {
		t.Fatal("With changed the original registry")
	}
	if got := r2.Securities(); len(got) != 3 || got[0].Code() != "ACME" || got[2].Code() != "INITECH" {
		t.Fatalf("Securities = %v", got)
	}
	_, err = r.With("bad symbol")
	wantCode(t, err, money.CodeInvalidSymbol)

	if !r.Known(usd) || !r.Known(acme) || r.Known(money.MustSecurity("NOPE")) || r.Known(money.Asset{}) {
		t.Fatal("Known disagrees with Lookup")
	}

	var nilReg *money.Registry
	if _, err := nilReg.Lookup("USD"); err != nil {
		t.Fatalf("nil registry should know currencies: %v", err)
	}
	_, err = nilReg.Security("ACME")
	wantCode(t, err, money.CodeUnknownSymbol)
	if nilReg.Securities() != nil {
		t.Fatal("nil registry lists securities")
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		asset money.Asset
		units int64
		code  fault.Code
	}{
		{"12.34", usd, 1234, ""},
		{"12.3", usd, 1230, ""},
		{"12", usd, 1200, ""},
		{"0", usd, 0, ""},
		{"0.00", usd, 0, ""},
		{"0.05", usd, 5, ""},
		{"-0.05", usd, -5, ""},
		{"-12.34", usd, -1234, ""},
		{"007.50", usd, 750, ""},
		{"1200", jpy, 1200, ""},
		{"1.234", bhd, 1234, ""},
		{"1.2345", clf, 12345, ""},
		{"10", acme, 10, ""},
		{"92233720368547758.07", usd, math.MaxInt64, ""},
		{"-92233720368547758.08", usd, math.MinInt64, ""},
		{"9223372036854775807", jpy, math.MaxInt64, ""},
		{"-9223372036854775808", jpy, math.MinInt64, ""},

		{"12.345", usd, 0, money.CodeInvalidPrecision},
		{"12.340", usd, 0, money.CodeInvalidPrecision}, // never rounds, even zeros
		{"1.0", jpy, 0, money.CodeInvalidPrecision},
		{"1.5", acme, 0, money.CodeInvalidPrecision},
		{"1.2345", bhd, 0, money.CodeInvalidPrecision},

		{"92233720368547758.08", usd, 0, money.CodeAmountOverflow},
		{"-92233720368547758.09", usd, 0, money.CodeAmountOverflow},
		{"9223372036854775808", jpy, 0, money.CodeAmountOverflow},
		{"99999999999999999999999", usd, 0, money.CodeAmountOverflow},

		{"", usd, 0, money.CodeInvalidAmount},
		{"-", usd, 0, money.CodeInvalidAmount},
		{"+1", usd, 0, money.CodeInvalidAmount},
		{" 1", usd, 0, money.CodeInvalidAmount},
		{"1 ", usd, 0, money.CodeInvalidAmount},
		{"1 000", usd, 0, money.CodeInvalidAmount},
		{"1,000.00", usd, 0, money.CodeInvalidAmount},
		{"1e3", usd, 0, money.CodeInvalidAmount},
		{"1E3", usd, 0, money.CodeInvalidAmount},
		{"0x10", usd, 0, money.CodeInvalidAmount},
		{".5", usd, 0, money.CodeInvalidAmount},
		{"5.", usd, 0, money.CodeInvalidAmount},
		{"1.2.3", usd, 0, money.CodeInvalidAmount},
		{"--1", usd, 0, money.CodeInvalidAmount},
		{"-0", usd, 0, money.CodeInvalidAmount},
		{"-0.00", usd, 0, money.CodeInvalidAmount},
		{"NaN", usd, 0, money.CodeInvalidAmount},
		{"Inf", usd, 0, money.CodeInvalidAmount},
		{"١٢", usd, 0, money.CodeInvalidAmount}, // Arabic-Indic digits
		{"1_000", usd, 0, money.CodeInvalidAmount},
		{"00000000000000000000000000000000000000001", usd, 0, money.CodeInvalidAmount}, // longer than MaxTextLen

		{"1", money.Asset{}, 0, money.CodeUnknownAsset},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.in, tt.asset)
		if tt.code != "" {
			if err == nil || fault.CodeOf(err) != tt.code {
				t.Errorf("Parse(%q, %s) = %v, %v; want code %s", tt.in, tt.asset, got, err, tt.code)
			}
			continue
		}
		if err != nil || got.Units() != tt.units || got.Asset() != tt.asset {
			t.Errorf("Parse(%q, %s) = %v (%d), %v; want %d", tt.in, tt.asset, got, got.Units(), err, tt.units)
		}
	}
}

func TestParsePrecisionDetails(t *testing.T) {
	t.Parallel()
	_, err := money.Parse("1.001", usd)
	e, ok := fault.As(err)
	if !ok || e.Extra["currency"] != "USD" || e.Extra["max_decimals"] != 2 {
		t.Fatalf("error %#v lacks currency and max_decimals", err)
	}
}

func TestParsePositive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		code fault.Code
	}{
		{"0.01", ""},
		{"5", ""},
		{"0", money.CodeInvalidAmount},
		{"0.00", money.CodeInvalidAmount},
		{"-5", money.CodeInvalidAmount},
		{"-0", money.CodeInvalidAmount},
		{"+5", money.CodeInvalidAmount},
		{"5.001", money.CodeInvalidPrecision},
		{"92233720368547758.08", money.CodeAmountOverflow},
	}
	for _, tt := range tests {
		_, err := money.ParsePositive(tt.in, usd)
		if tt.code == "" && err != nil || tt.code != "" && fault.CodeOf(err) != tt.code {
			t.Errorf("ParsePositive(%q) error %v, want code %q", tt.in, err, tt.code)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    money.Amount
		want string
	}{
		{money.New(1234, usd), "12.34"},
		{money.New(5, usd), "0.05"},
		{money.New(-5, usd), "-0.05"},
		{money.New(0, usd), "0.00"},
		{money.New(100, usd), "1.00"},
		{money.New(1200, jpy), "1200"},
		{money.New(-1, jpy), "-1"},
		{money.New(1, bhd), "0.001"},
		{money.New(12345, clf), "1.2345"},
		{money.New(10, acme), "10"},
		{money.New(math.MaxInt64, usd), "92233720368547758.07"},
		{money.New(math.MinInt64, usd), "-92233720368547758.08"},
		{money.New(math.MinInt64, jpy), "-9223372036854775808"},
	}
	for _, tt := range tests {
		if got := tt.a.Format(); got != tt.want {
			t.Errorf("Format(%d %s) = %q, want %q", tt.a.Units(), tt.a.Asset(), got, tt.want)
		}
	}
	if got := money.New(1234, usd).String(); got != "12.34 USD" {
		t.Errorf("String = %q", got)
	}
	if got := money.New(10, acme).String(); got != "10 ACME" {
		t.Errorf("String = %q", got)
	}
}

func TestArithmetic(t *testing.T) {
	t.Parallel()
	const maxI, minI = math.MaxInt64, math.MinInt64
	u := func(n int64) money.Amount { return money.New(n, usd) }
	type op func() (money.Amount, error)
	tests := []struct {
		name string
		f    op
		want int64
		code fault.Code
	}{
		{"add", func() (money.Amount, error) { return u(150).Add(u(-50)) }, 100, ""},
		{"add max", func() (money.Amount, error) { return u(maxI - 1).Add(u(1)) }, maxI, ""},
		{"add overflow", func() (money.Amount, error) { return u(maxI).Add(u(1)) }, 0, money.CodeAmountOverflow},
		{"add underflow", func() (money.Amount, error) { return u(minI).Add(u(-1)) }, 0, money.CodeAmountOverflow},
		{"add min+max", func() (money.Amount, error) { return u(minI).Add(u(maxI)) }, -1, ""},
		{"add mismatch", func() (money.Amount, error) { return u(1).Add(money.New(1, eur)) }, 0, money.CodeCurrencyMismatch},
		{"sub", func() (money.Amount, error) { return u(100).Sub(u(250)) }, -150, ""},
		{"sub overflow", func() (money.Amount, error) { return u(0).Sub(u(minI)) }, 0, money.CodeAmountOverflow},
		{"sub underflow", func() (money.Amount, error) { return u(minI).Sub(u(1)) }, 0, money.CodeAmountOverflow},
		{"sub max-max", func() (money.Amount, error) { return u(maxI).Sub(u(maxI)) }, 0, ""},
		{"sub -1-max", func() (money.Amount, error) { return u(-1).Sub(u(maxI)) }, minI, ""},
		{"sub mismatch", func() (money.Amount, error) { return u(1).Sub(money.New(1, acme)) }, 0, money.CodeCurrencyMismatch},
		{"neg", func() (money.Amount, error) { return u(5).Neg() }, -5, ""},
		{"neg max", func() (money.Amount, error) { return u(maxI).Neg() }, -maxI, ""},
		{"neg min", func() (money.Amount, error) { return u(minI).Neg() }, 0, money.CodeAmountOverflow},
		{"abs", func() (money.Amount, error) { return u(-5).Abs() }, 5, ""},
		{"abs positive", func() (money.Amount, error) { return u(5).Abs() }, 5, ""},
		{"abs min", func() (money.Amount, error) { return u(minI).Abs() }, 0, money.CodeAmountOverflow},
		{"mul", func() (money.Amount, error) { return u(1999).Mul(3) }, 5997, ""},
		{"mul negative", func() (money.Amount, error) { return u(-7).Mul(3) }, -21, ""},
		{"mul zero", func() (money.Amount, error) { return u(maxI).Mul(0) }, 0, ""},
		{"mul overflow", func() (money.Amount, error) { return u(maxI/2 + 1).Mul(2) }, 0, money.CodeAmountOverflow},
		{"mul to min", func() (money.Amount, error) { return u(minI / 2).Mul(2) }, minI, ""},
		{"mul min by -1", func() (money.Amount, error) { return u(minI).Mul(-1) }, 0, money.CodeAmountOverflow},
		{"mul min by 1", func() (money.Amount, error) { return u(minI).Mul(1) }, minI, ""},
		{"mul -1 by min", func() (money.Amount, error) { return u(-1).Mul(minI) }, 0, money.CodeAmountOverflow},
		{"mul big", func() (money.Amount, error) { return u(1 << 32).Mul(1 << 32) }, 0, money.CodeAmountOverflow},
		{"sum", func() (money.Amount, error) { return money.Sum(usd, u(1), u(2), u(3)) }, 6, ""},
		{"sum empty", func() (money.Amount, error) { return money.Sum(usd) }, 0, ""},
		{"sum overflow", func() (money.Amount, error) { return money.Sum(usd, u(maxI), u(1), u(-2)) }, 0, money.CodeAmountOverflow},
		{"sum mismatch", func() (money.Amount, error) { return money.Sum(usd, u(1), money.New(1, jpy)) }, 0, money.CodeCurrencyMismatch},
	}
	for _, tt := range tests {
		got, err := tt.f()
		if tt.code != "" {
			if fault.CodeOf(err) != tt.code {
				t.Errorf("%s: got %v, %v; want code %s", tt.name, got, err, tt.code)
			}
			continue
		}
		if err != nil || got.Units() != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.name, got.Units(), err, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	a, b := money.New(1, usd), money.New(2, usd)
	if c, err := a.Cmp(b); c != -1 || err != nil {
		t.Errorf("Cmp = %d, %v", c, err)
	}
	if c, err := b.Cmp(a); c != 1 || err != nil {
		t.Errorf("Cmp = %d, %v", c, err)
	}
	if c, err := a.Cmp(a); c != 0 || err != nil {
		t.Errorf("Cmp = %d, %v", c, err)
	}
	_, err := a.Cmp(money.New(1, eur))
	wantCode(t, err, money.CodeCurrencyMismatch)
	if !a.Equal(money.New(1, usd)) || a.Equal(money.New(1, eur)) || a.Equal(b) {
		t.Error("Equal")
	}
	z := money.Zero(usd)
	if !z.IsZero() || z.Sign() != 0 || z.IsPositive() || z.IsNegative() {
		t.Error("zero predicates")
	}
	n := money.New(-3, usd)
	if n.Sign() != -1 || !n.IsNegative() || a.Sign() != 1 || !a.IsPositive() {
		t.Error("sign predicates")
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units int64
		n     int
		want  []int64
	}{
		{100, 3, []int64{34, 33, 33}},
		{-100, 3, []int64{-34, -33, -33}},
		{2, 3, []int64{1, 1, 0}},
		{0, 2, []int64{0, 0}},
		{7, 1, []int64{7}},
		{math.MinInt64, 2, []int64{math.MinInt64 / 2, math.MinInt64 / 2}},
		{math.MaxInt64, 2, []int64{math.MaxInt64/2 + 1, math.MaxInt64 / 2}},
	}
	for _, tt := range tests {
		got, err := money.New(tt.units, usd).Split(tt.n)
		if err != nil {
			t.Fatalf("Split(%d, %d): %v", tt.units, tt.n, err)
		}
		if !equalUnits(got, tt.want) {
			t.Errorf("Split(%d, %d) = %v, want %v", tt.units, tt.n, unitsOf(got), tt.want)
		}
	}
	for _, n := range []int{0, -1, money.MaxParts + 1} {
		_, err := money.New(1, usd).Split(n)
		wantCode(t, err, money.CodeInvalidAllocation)
	}
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units  int64
		ratios []int64
		want   []int64
	}{
		{100, []int64{1, 1, 1}, []int64{34, 33, 33}},
		{100, []int64{70, 30}, []int64{70, 30}},
		{5, []int64{3, 7}, []int64{2, 3}}, // 1.5 → 1 (rem .5), 3.5 → 3 (rem .5): tie to the earlier
		{1000, []int64{25, 9975}, []int64{3, 997}},
		{-1000, []int64{25, 9975}, []int64{-3, -997}},
		{10, []int64{0, 1, 0}, []int64{0, 10, 0}},
		{1, []int64{0, 1, 1}, []int64{0, 1, 0}},
		{math.MaxInt64, []int64{math.MaxInt64 - 1, 1}, []int64{math.MaxInt64 - 1, 1}},
		{math.MinInt64, []int64{1, 1}, []int64{math.MinInt64 / 2, math.MinInt64 / 2}},
		{0, []int64{1, 2}, []int64{0, 0}},
	}
	for _, tt := range tests {
		got, err := money.New(tt.units, usd).Allocate(tt.ratios...)
		if err != nil {
			t.Fatalf("Allocate(%d, %v): %v", tt.units, tt.ratios, err)
		}
		if !equalUnits(got, tt.want) {
			t.Errorf("Allocate(%d, %v) = %v, want %v", tt.units, tt.ratios, unitsOf(got), tt.want)
		}
	}
	bad := [][]int64{nil, {0, 0}, {1, -1}, {math.MaxInt64, 1}, make([]int64, money.MaxParts+1)}
	for _, ratios := range bad {
		_, err := money.New(1, usd).Allocate(ratios...)
		wantCode(t, err, money.CodeInvalidAllocation)
	}
}

func TestUnitsHelpers(t *testing.T) {
	t.Parallel()
	if _, ok := money.AddUnits(math.MaxInt64, 1); ok {
		t.Error("AddUnits overflow not detected")
	}
	if _, ok := money.SubUnits(math.MinInt64, 1); ok {
		t.Error("SubUnits overflow not detected")
	}
	if v, ok := money.MulUnits(-3, 4); !ok || v != -12 {
		t.Errorf("MulUnits = %d, %v", v, ok)
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	if money.KindCurrency.String() != "currency" || money.KindSecurity.String() != "security" || money.AssetKind(0).String() != "invalid" {
		t.Error("AssetKind.String")
	}
}

func equalUnits(got []money.Amount, want []int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Units() != want[i] {
			return false
		}
	}
	return true
}

func unitsOf(xs []money.Amount) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = x.Units()
	}
	return out
}
