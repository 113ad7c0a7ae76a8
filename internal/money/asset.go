package money

import "github.com/fiscus/fiscus/internal/fault"

// AssetKind tells currencies from listed securities.
type AssetKind uint8

const (
	KindCurrency AssetKind = iota + 1 // an ISO 4217 currency
	KindSecurity                      // a listed security; one minor unit is one share
)

func (k AssetKind) String() string {
	switch k {
	case KindCurrency:
		return "currency"
	case KindSecurity:
		return "security"
	}
	return "invalid"
}

// MaxSymbolLen is the longest security symbol.
const MaxSymbolLen = 12

// Asset is what an amount counts: a currency with its ISO 4217 exponent, or a
// security with exponent 0. Assets are comparable values; build them with
// Currency, Security or a Registry. The zero Asset is invalid and no
// constructor returns it.
type Asset struct {
	code string
	exp  uint8
	kind AssetKind
}

// Code is the ISO 4217 code ("USD") or the security symbol ("ACME").
func (a Asset) Code() string { return a.code }

// Exponent is the number of decimal places of one major unit: 2 for USD,
// 0 for JPY and for every security, 3 for BHD.
func (a Asset) Exponent() int { return int(a.exp) }

// Kind tells a currency from a security.
func (a Asset) Kind() AssetKind { return a.kind }

// IsCurrency reports whether a is an ISO 4217 currency.
func (a Asset) IsCurrency() bool { return a.kind == KindCurrency }

// IsSecurity reports whether a is a listed security.
func (a Asset) IsSecurity() bool { return a.kind == KindSecurity }

// IsZero reports whether a is the invalid zero Asset.
func (a Asset) IsZero() bool { return a == Asset{} }

func (a Asset) String() string { return a.code }

// Currency returns the ISO 4217 currency with the given upper-case code.
func Currency(code string) (Asset, error) {
	exp, ok := isoExponent(code)
	if !ok {
		return Asset{}, fault.New(CodeUnknownCurrency, "Unknown currency %q.", clip(code)).With("currency", clip(code))
	}
	return Asset{code: code, exp: exp, kind: KindCurrency}, nil
}

// MustCurrency is Currency for codes known at compile time; it panics on an
// unknown code.
func MustCurrency(code string) Asset {
	a, err := Currency(code)
	if err != nil {
		panic(err)
	}
	return a
}

// Security returns the asset for a security symbol: 1 to MaxSymbolLen
// upper-case ASCII letters or digits, and not an ISO 4217 code (so "USD" is
// never a share). A security has exponent 0: holdings are whole shares.
// Whether the symbol is listed is a Registry's business, not this function's.
func Security(symbol string) (Asset, error) {
	if !validSymbol(symbol) {
		return Asset{}, fault.New(CodeInvalidSymbol, "A symbol is 1 to %d upper-case letters or digits.", MaxSymbolLen).With("symbol", clip(symbol))
	}
	if _, ok := isoExponent(symbol); ok {
		return Asset{}, fault.New(CodeInvalidSymbol, "%s is a currency code, not a symbol.", symbol).With("symbol", symbol)
	}
	return Asset{code: symbol, exp: 0, kind: KindSecurity}, nil
}

// MustSecurity is Security for symbols known at compile time; it panics on
// an invalid symbol.
func MustSecurity(symbol string) Asset {
	a, err := Security(symbol)
	if err != nil {
		panic(err)
	}
	return a
}

func validSymbol(s string) bool {
	if len(s) == 0 || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// clip bounds user-supplied text echoed back in an error.
func clip(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
