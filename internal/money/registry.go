package money

import (
	"sort"

	"github.com/fiscus/fiscus/internal/fault"
)

// MaxSecurities bounds the number of listed securities in one Registry.
const MaxSecurities = 100_000

// Registry is the set of assets Fiscus accepts: every ISO 4217 currency of
// this package plus the securities listed by an operator. A Registry is
// immutable; With returns a new one, so a service can swap registries behind
// an atomic pointer while readers keep using the old one, without locks.
type Registry struct {
	securities map[string]Asset
}

// NewRegistry returns a registry of all known currencies and the given
// security symbols.
func NewRegistry(symbols ...string) (*Registry, error) {
	return (&Registry{}).With(symbols...)
}

// With returns a new registry that also lists the given securities. Listing a
// symbol twice is harmless. A nil *Registry knows the currencies only.
func (r *Registry) With(symbols ...string) (*Registry, error) {
	var listed map[string]Asset
	if r != nil {
		listed = r.securities
	}
	if len(listed)+len(symbols) > MaxSecurities {
		return nil, fault.New(CodeInvalidSymbol, "At most %d securities can be listed.", MaxSecurities)
	}
	m := make(map[string]Asset, len(listed)+len(symbols))
	for k, v := range listed {
		m[k] = v
	}
	for _, s := range symbols {
		a, err := Security(s)
		if err != nil {
			return nil, err
		}
		m[s] = a
	}
	return &Registry{securities: m}, nil
}

// Lookup returns the currency or listed security with the given code.
func (r *Registry) Lookup(code string) (Asset, error) {
	if a, err := Currency(code); err == nil {
		return a, nil
	}
	if r != nil {
		if a, ok := r.securities[code]; ok {
			return a, nil
		}
	}
	return Asset{}, fault.New(CodeUnknownAsset, "Unknown currency or symbol %q.", clip(code)).With("asset", clip(code))
}

// Currency returns the currency with the given code; securities are refused.
func (r *Registry) Currency(code string) (Asset, error) { return Currency(code) }

// Security returns the listed security with the given symbol.
func (r *Registry) Security(symbol string) (Asset, error) {
	if r != nil {
		if a, ok := r.securities[symbol]; ok {
			return a, nil
		}
	}
	return Asset{}, fault.New(CodeUnknownSymbol, "Symbol %q is not listed.", clip(symbol)).With("symbol", clip(symbol))
}

// Known reports whether a is exactly an asset of this registry (same code,
// exponent and kind).
func (r *Registry) Known(a Asset) bool {
	got, err := r.Lookup(a.code)
	return err == nil && got == a
}

// Securities returns the listed securities sorted by symbol.
func (r *Registry) Securities() []Asset {
	if r == nil {
		return nil
	}
	out := make([]Asset, 0, len(r.securities))
	for _, a := range r.securities {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].code < out[j].code })
	return out
}
