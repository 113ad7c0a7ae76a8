package money_test

import (
	"testing"

	"github.com/fiscus/fiscus/internal/money"
)

// sink keeps results alive so the compiler cannot drop the work.
var sink money.Amount

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		a, err := money.Parse("123456.78", usd)
		if err != nil {
			b.Fatal(err)
		}
		sink = a
	}
}

func BenchmarkFormat(b *testing.B) {
	a := money.New(12345678, usd)
	b.ReportAllocs()
	var s string
	for b.Loop() {
		s = a.Format()
	}
	_ = s
}

func BenchmarkAdd(b *testing.B) {
	x, y := money.New(12345678, usd), money.New(-5, usd)
	b.ReportAllocs()
	for b.Loop() {
		r, err := x.Add(y)
		if err != nil {
			b.Fatal(err)
		}
		sink = r
	}
}

func BenchmarkAllocate(b *testing.B) {
	a := money.New(100_00, usd)
	b.ReportAllocs()
	for b.Loop() {
		parts, err := a.Allocate(25, 9975)
		if err != nil {
			b.Fatal(err)
		}
		sink = parts[0]
	}
}
