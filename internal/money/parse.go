package money

import (
	"math"
	"strconv"
	"strings"

	"github.com/fiscus/fiscus/internal/fault"
)

// MaxTextLen bounds the decimal text Parse reads. The largest int64 has 19
// digits; the rest is room for a sign, a decimal point and leading zeros.
const MaxTextLen = 40

// Parse reads decimal text such as "12.34", "-0.05" or "1200" as an amount of
// asset a, straight to minor units. The grammar is
//
//	["-"] digit+ ["." digit+]
//
// with ASCII digits only: no "+", no spaces, no exponent ("1e3"), no
// thousands separators, no ".5" or "5.". At most a.Exponent() decimals may be
// given (fewer are padded: "12.3" USD is 1230 minor units); more is
// invalid_precision, even if the extra digits are zeros, because Parse never
// rounds. "-0" is refused so that every amount has one spelling. A value
// outside int64 minor units is amount_overflow.
func Parse(s string, a Asset) (Amount, error) {
	if a.IsZero() {
		return Amount{}, fault.New(CodeUnknownAsset, "The amount has no currency.")
	}
	if len(s) == 0 {
		return Amount{}, invalidText(s, "The amount is empty.")
	}
	if len(s) > MaxTextLen {
		return Amount{}, invalidText(s, "The amount is longer than %d characters.", MaxTextLen)
	}
	neg := s[0] == '-'
	body := s
	if neg {
		body = s[1:]
	}
	whole, frac, hasPoint := strings.Cut(body, ".")
	if !allDigits(whole) || (hasPoint && !allDigits(frac)) {
		return Amount{}, invalidText(s, "The amount must be written as digits with an optional minus sign and decimal point, like 12.34.")
	}
	exp := a.Exponent()
	if len(frac) > exp {
		return Amount{}, fault.New(CodeInvalidPrecision, "%s allows at most %d decimal places.", a.code, exp).
			With("currency", a.code).With("max_decimals", exp)
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // |math.MinInt64|
	}
	var mag uint64
	ok := true
	for i := 0; i < len(whole); i++ {
		mag, ok = appendDigit(mag, whole[i]-'0', limit)
		if !ok {
			return Amount{}, overflow("parse")
		}
	}
	for i := 0; i < exp; i++ {
		d := byte(0)
		if i < len(frac) {
			d = frac[i] - '0'
		}
		mag, ok = appendDigit(mag, d, limit)
		if !ok {
			return Amount{}, overflow("parse")
		}
	}
	if neg {
		if mag == 0 {
			return Amount{}, invalidText(s, "Zero has no sign.")
		}
		return Amount{units: negate(mag), asset: a}, nil
	}
	return Amount{units: int64(mag), asset: a}, nil
}

// ParsePositive is Parse for amounts that must be above zero, such as a
// transfer amount: a minus sign or a zero value is invalid_amount.
func ParsePositive(s string, a Asset) (Amount, error) {
	if len(s) > 0 && s[0] == '-' {
		return Amount{}, invalidText(s, "The amount must not have a sign.")
	}
	x, err := Parse(s, a)
	if err != nil {
		return Amount{}, err
	}
	if x.units == 0 {
		return Amount{}, invalidText(s, "The amount must be greater than zero.")
	}
	return x, nil
}

// Format writes the amount as plain decimal text with exactly
// Exponent() decimals and no currency: "12.34", "-0.05", "1200". Parse reads
// it back to the same amount.
func (a Amount) Format() string {
	digits := strconv.FormatUint(magnitude(a.units), 10)
	exp := a.asset.Exponent()
	if exp > 0 {
		for len(digits) <= exp {
			digits = "0" + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if a.units < 0 {
		return "-" + digits
	}
	return digits
}

// String is Format followed by the asset code: "12.34 USD", "10 ACME".
func (a Amount) String() string { return a.Format() + " " + a.asset.code }

func appendDigit(mag uint64, d byte, limit uint64) (uint64, bool) {
	if mag > (limit-uint64(d))/10 {
		return 0, false
	}
	return mag*10 + uint64(d), true
}

func allDigits(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func invalidText(s, format string, args ...any) *fault.Error {
	return fault.New(CodeInvalidAmount, format, args...).With("value", clip(s))
}
