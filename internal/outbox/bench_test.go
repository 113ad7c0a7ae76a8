package outbox_test

import (
	"context"
	"testing"

	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// BenchmarkRecord measures a write transaction that records one event: the
// cost the outbox adds to a use case is the difference from the same
// transaction without it (one INSERT, no read, no lock).
func BenchmarkRecord(b *testing.B) {
	for _, e := range storetest.Engines {
		b.Run(string(e), func(b *testing.B) {
			db := storetest.Open(b, e)
			ctx := context.Background()
			event := ev("trf_01JD3V6X4T6ZQ2M8Y7H0K1C9RE", "transfer.executed", 1,
				map[string]any{"amount": 12345, "asset": "EUR", "entry_id": "ent_01JD3V6X4T6ZQ2M8Y7H0K1C9RF"})
			b.ReportAllocs()
			for b.Loop() {
				err := db.Write(ctx, func(tx *store.Tx) error {
					_, err := outbox.Record(ctx, tx, event)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRow measures validation and canonical encoding alone, no I/O.
func BenchmarkRow(b *testing.B) {
	event := ev("trf_01JD3V6X4T6ZQ2M8Y7H0K1C9RE", "transfer.executed", 1,
		map[string]any{"amount": 12345, "asset": "EUR", "entry_id": "ent_01JD3V6X4T6ZQ2M8Y7H0K1C9RF"})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := outbox.Row(event); err != nil {
			b.Fatal(err)
		}
	}
}
