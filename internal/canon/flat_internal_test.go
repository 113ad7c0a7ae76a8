package canon

import (
	"bytes"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// A flat map's single encoding is byte for byte what the general path
// (marshal, decode, encode again) makes of it, and a map the fast path
// refuses still comes out right.
func TestFlatObjectMatchesTheGeneralPath(t *testing.T) {
	pieces := []string{"a", "Z", "é", "€", "𝄞", "<", ">", "&", "\"", "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f",
		"\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xed\xa0\x80", " ", "amount", "id"}
	str := rapid.Custom(func(t *rapid.T) string {
		var b bytes.Buffer
		for range rapid.IntRange(0, 6).Draw(t, "len") {
			b.WriteString(rapid.SampledFrom(pieces).Draw(t, "piece"))
		}
		return b.String()
	})
	flatValue := rapid.OneOf(
		rapid.Map(str, func(s string) any { return s }),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Map(rapid.Int(), func(i int) any { return i }),
		rapid.Map(rapid.SampledFrom([]int64{0, -1, 1, math.MaxInt64, math.MinInt64, 1e15}), func(i int64) any { return i }),
		rapid.Just[any](nil),
	)
	anyValue := rapid.OneOf(flatValue,
		rapid.Just[any]([]string{"x", "<"}),
		rapid.Just[any](map[string]any{"n": 1}),
		rapid.Just[any](1.5),
	)
	rapid.Check(t, func(t *rapid.T) {
		value := flatValue // mostly maps the fast path takes
		if rapid.IntRange(0, 3).Draw(t, "mixed") == 0 {
			value = anyValue
		}
		m := rapid.MapOf(str, value).Draw(t, "m")
		max := rapid.SampledFrom([]int{2, 16, 1 << 20}).Draw(t, "max")
		got, gotErr := Object(m, max)
		want, wantErr := decodedObject(m, max)
		if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Object(%q) = %q, %v; the general path gives %q, %v", m, got, gotErr, want, wantErr)
		}
	})
}

// The cases the property test exists for, pinned: HTML characters are not
// escaped, invalid UTF-8 becomes U+FFFD, line and paragraph separators are
// escaped, as the general path does.
func TestFlatObjectEdgeCases(t *testing.T) {
	for _, m := range []map[string]any{
		{"<": false},
		{"": "\xff"},
		{"a&b": "x>y", "\u2028": "\u2029"},
		{"\xc3": "\xed\xa0\x80"},
	} {
		got, gotErr := Object(m, 1<<10)
		want, wantErr := decodedObject(m, 1<<10)
		if gotErr != nil || wantErr != nil || !bytes.Equal(got, want) {
			t.Errorf("Object(%q) = %q, %v; the general path gives %q, %v", m, got, gotErr, want, wantErr)
		}
	}
}
