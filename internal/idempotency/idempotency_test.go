package idempotency

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

var ctx = context.Background()

// commit writes a record the way the posting engine does, in one transaction.
func commit(t *testing.T, db *store.DB, k *Keeper, r Record) {
	t.Helper()
	err := db.Write(ctx, func(tx *store.Tx) error {
		cols := k.ClaimColumns()
		_, err := tx.Exec(ctx, `INSERT INTO `+KeysTable+` (`+strings.Join(cols, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(cols)-1)+`)`, k.ClaimValues(r)...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBeginReplayReuseInFlight(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := New(db, 24*time.Hour)
		k.wait = 20 * time.Millisecond
		h1, _ := Hash("POST /api/v1/transfers", map[string]any{"amount": 100})
		h2, _ := Hash("POST /api/v1/transfers", map[string]any{"amount": 101})

		stored, release, err := k.Begin(ctx, "usr_a", "key-1", h1)
		if err != nil || stored != nil || release == nil {
			t.Fatalf("first Begin = %v, release %t, %v", stored, release != nil, err)
		}
		// The same key again while the first is running (and keeps running
		// past the wait): 409.
		if _, _, err := k.Begin(ctx, "usr_a", "key-1", h1); !fault.Is(err, fault.IdempotencyBusy) {
			t.Fatalf("concurrent Begin = %v, want in flight", err)
		}
		// Another caller's identical key is independent.
		_, rel2, err := k.Begin(ctx, "usr_b", "key-1", h1)
		if err != nil {
			t.Fatalf("other scope: %v", err)
		}
		rel2()
		// The first succeeds and its record commits with the movement.
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		commit(t, db, k, Record{Scope: "usr_a", Key: "key-1", Hash: h1, ResourceID: "trf_1", Status: 201, Body: []byte(`{"id":"trf_1"}`), Now: now})
		release()

		stored, release, err = k.Begin(ctx, "usr_a", "key-1", h1)
		if err != nil || release != nil || stored == nil || stored.Status != 201 || string(stored.Body) != `{"id":"trf_1"}` || stored.ResourceID != "trf_1" {
			t.Fatalf("replay = %+v %v", stored, err)
		}
		if _, _, err := k.Begin(ctx, "usr_a", "key-1", h2); !fault.Is(err, fault.IdempotencyReused) {
			t.Fatalf("different body = %v, want reused", err)
		}
		// A failed request wrote nothing: releasing without a record lets a retry run.
		_, release, err = k.Begin(ctx, "usr_a", "key-2", h1)
		if err != nil {
			t.Fatal(err)
		}
		release()
		if _, release, err = k.Begin(ctx, "usr_a", "key-2", h1); err != nil || release == nil {
			t.Fatalf("retry after failure: %v", err)
		}
		release()

		// A duplicate that arrives while the first runs waits for it and
		// then gets its stored response.
		k.wait = time.Minute
		_, release, err = k.Begin(ctx, "usr_a", "key-3", h1)
		if err != nil {
			t.Fatal(err)
		}
		waiter := make(chan *Stored, 1)
		go func() {
			s, rel, err := k.Begin(ctx, "usr_a", "key-3", h1)
			if err != nil || rel != nil {
				t.Errorf("waiting Begin = %v, release %t", err, rel != nil)
			}
			waiter <- s
		}()
		commit(t, db, k, Record{Scope: "usr_a", Key: "key-3", Hash: h1, ResourceID: "trf_3", Status: 201, Body: []byte(`{"id":"trf_3"}`), Now: now})
		release()
		release() // a second release is harmless
		if s := <-waiter; s == nil || s.ResourceID != "trf_3" {
			t.Fatalf("the waiting duplicate got %+v, want the first response", s)
		}

		// Sweeping removes only expired records.
		commit(t, db, k, Record{Scope: "usr_a", Key: "old", Hash: h1, ResourceID: "trf_0", Status: 201, Body: []byte(`{}`), Now: now.Add(-48 * time.Hour)})
		n, err := k.Sweep(ctx, now)
		if err != nil || n != 1 {
			t.Fatalf("sweep = %d %v, want 1", n, err)
		}
		if s, err := k.Lookup(ctx, "usr_a", "old", h1); err != nil || s != nil {
			t.Fatalf("swept record still there: %v %v", s, err)
		}
		if s, err := k.Lookup(ctx, "usr_a", "key-1", h1); err != nil || s == nil {
			t.Fatalf("live record swept: %v %v", s, err)
		}
	})
}

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", " ", "has space", "tab\t", "é", strings.Repeat("k", MaxKeyLen+1)} {
		if ValidateKey(bad) == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	for _, good := range []string{"a", "0d7f4c1e-5b7a-4c89-9b1e-2b9a6b0e7d11", strings.Repeat("k", MaxKeyLen)} {
		if err := ValidateKey(good); err != nil {
			t.Errorf("key %q refused: %v", good, err)
		}
	}
}

func TestHashIgnoresFieldOrder(t *testing.T) {
	t.Parallel()
	type body struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	h1, _ := Hash("r", body{1, "x"})
	h2, _ := Hash("r", body{A: 1, B: "x"})
	h3, _ := Hash("r2", body{1, "x"})
	h4, _ := Hash("r", body{2, "x"})
	if h1 != h2 || h1 == h3 || h1 == h4 {
		t.Fatal("hash does not identify the request exactly")
	}
}
