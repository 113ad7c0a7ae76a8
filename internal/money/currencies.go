package money

import "sort"

// isoTable is the read-only ISO 4217 table: code → exponent (the number of
// decimal places of the minor unit). Codes without a minor unit (XAU, XDR, …)
// are deliberately absent. The table is never written after initialisation.
var isoTable = map[string]uint8{
	// Exponent 2.
	"AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BRL": 2, "CAD": 2, "CHF": 2,
	"CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2,
	"HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "KES": 2, "MAD": 2,
	"MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "PEN": 2, "PHP": 2,
	"PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2, "SEK": 2,
	"SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "ZAR": 2,
	// Exponent 0.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0,
	"XOF": 0, "XPF": 0,
	// Exponent 3.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// Exponent 4.
	"CLF": 4,
}

func isoExponent(code string) (uint8, bool) {
	exp, ok := isoTable[code]
	return exp, ok
}

// Currencies returns every ISO 4217 currency the package knows, sorted by
// code.
func Currencies() []Asset {
	out := make([]Asset, 0, len(isoTable))
	for code, exp := range isoTable {
		out = append(out, Asset{code: code, exp: exp, kind: KindCurrency})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].code < out[j].code })
	return out
}
