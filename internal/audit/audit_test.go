package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

func TestRecordSealVerify(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// An empty chain verifies.
		if rep := verifyOK(t, db); rep.Verified != 0 || rep.Unsealed != 0 || rep.Head.Seq != 0 {
			t.Fatalf("empty chain: %+v", rep)
		}
		ids := recordN(t, db, 5)
		// Recorded but unsealed: nothing to verify yet, and it says so.
		if rep := verifyOK(t, db); rep.Verified != 0 || rep.Unsealed != 5 {
			t.Fatalf("before sealing: %+v", rep)
		}
		if n := seal(t, db); n != 5 {
			t.Fatalf("sealed %d events, want 5", n)
		}
		if n := seal(t, db); n != 0 {
			t.Fatalf("second seal sealed %d events, want 0", n)
		}
		rep := verifyOK(t, db)
		if rep.Verified != 5 || rep.Unsealed != 0 || rep.Head.Seq != 5 || len(rep.Head.Hash) != audit.HashSize {
			t.Fatalf("after sealing: %+v", rep)
		}
		// Chain order is insertion order here (one writer), seq from 1, each
		// event linked to the one before.
		prev := make([]byte, audit.HashSize)
		for i, want := range ids {
			e := entryAt(t, db, int64(i+1))
			if e.ID != want || !e.Sealed() {
				t.Fatalf("seq %d is %s (sealed %v), want %s", i+1, e.ID, e.Sealed(), want)
			}
			if !bytes.Equal(e.PrevHash, prev) {
				t.Fatalf("seq %d prev_hash does not link", i+1)
			}
			if got := audit.ChainHash(prev, e.Seq, e); !bytes.Equal(got, e.Hash) {
				t.Fatalf("seq %d hash does not recompute", i+1)
			}
			prev = e.Hash
		}
		if !bytes.Equal(rep.Head.Hash, prev) {
			t.Fatal("head hash is not the last event's hash")
		}
		// Events recorded later extend the same chain.
		recordN(t, db, 3)
		seal(t, db)
		if rep := verifyOK(t, db); rep.Verified != 8 || rep.Head.Seq != 8 {
			t.Fatalf("after a second round: %+v", rep)
		}
		// The stored event reads back as recorded.
		var got audit.Entry
		err := db.Read(ctx, func(tx *store.Tx) error {
			var err error
			got, err = audit.Get(ctx, tx, ids[1])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := event(2)
		if !got.At.Equal(want.At) || got.ActorKind != want.ActorKind || got.ActorID != want.ActorID || got.Action != want.Action ||
			got.TargetType != want.TargetType || got.TargetID != want.TargetID || got.RequestID != want.RequestID || got.IP != want.IP ||
			string(got.Details) != `{"after":{"n":2,"status":"executed"},"before":{"status":"pending_approval"}}` {
			t.Fatalf("read back %+v", got)
		}
	})
}

func TestRolledBackTransactionLeavesNoEvent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("business rule failed")
		var recorded string
		err := db.Write(ctx, func(tx *store.Tx) error {
			id, err := audit.Record(ctx, tx, event(1))
			if err != nil {
				return err
			}
			recorded = id
			return boom // the business change fails after the event was recorded
		})
		if !errors.Is(err, boom) || recorded == "" {
			t.Fatalf("write: %v (recorded %q)", err, recorded)
		}
		if n := count(t, db, "1 = 1"); n != 0 {
			t.Fatalf("%d events after rollback, want 0", n)
		}
		if n := seal(t, db); n != 0 {
			t.Fatalf("sealed %d events after rollback", n)
		}
		if rep := verifyOK(t, db); rep.Verified != 0 || rep.Unsealed != 0 {
			t.Fatalf("after rollback: %+v", rep)
		}
	})
}

func TestRecordRejectsInvalidEvents(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		change func(*audit.Event)
	}{
		{"no time", func(e *audit.Event) { e.At = time.Time{} }},
		{"time before 1970", func(e *audit.Event) { e.At = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC) }},
		{"time after 9999", func(e *audit.Event) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"no action", func(e *audit.Event) { e.Action = "" }},
		{"one-word action", func(e *audit.Event) { e.Action = "login" }},
		{"upper-case action", func(e *audit.Event) { e.Action = "auth.Login" }},
		{"empty action segment", func(e *audit.Event) { e.Action = "auth..login" }},
		{"trailing dot", func(e *audit.Event) { e.Action = "auth.login." }},
		{"segment starting with a digit", func(e *audit.Event) { e.Action = "auth.2fa" }},
		{"overlong action", func(e *audit.Event) { e.Action = "a." + long(audit.MaxActionLen) }},
		{"unknown actor kind", func(e *audit.Event) { e.ActorKind = "robot" }},
		{"no actor kind", func(e *audit.Event) { e.ActorKind = "" }},
		{"user without id", func(e *audit.Event) { e.ActorID = "" }},
		{"api client without id", func(e *audit.Event) { e.ActorKind, e.ActorID = audit.ActorAPIClient, "" }},
		{"anonymous with id", func(e *audit.Event) { e.ActorKind = audit.ActorAnonymous }},
		{"target type with a dot", func(e *audit.Event) { e.TargetType = "a.b" }},
		{"upper-case target type", func(e *audit.Event) { e.TargetType = "Transfer" }},
		{"overlong target type", func(e *audit.Event) { e.TargetType = long(audit.MaxTargetTypeLen + 1) }},
		{"overlong actor id", func(e *audit.Event) { e.ActorID = long(audit.MaxRefLen + 1) }},
		{"overlong target id", func(e *audit.Event) { e.TargetID = long(audit.MaxRefLen + 1) }},
		{"overlong request id", func(e *audit.Event) { e.RequestID = long(audit.MaxRefLen + 1) }},
		{"control character", func(e *audit.Event) { e.RequestID = "req\n1" }},
		{"NUL byte", func(e *audit.Event) { e.TargetID = "trf\x00" }},
		{"invalid UTF-8", func(e *audit.Event) { e.ActorID = "usr_\xff" }},
		{"not an IP", func(e *audit.Event) { e.IP = "example.com" }},
		{"IP with a port", func(e *audit.Event) { e.IP = "192.0.2.1:443" }},
		{"details an array", func(e *audit.Event) { e.Details = []int{1, 2} }},
		{"details a string", func(e *audit.Event) { e.Details = "before" }},
		{"details null JSON", func(e *audit.Event) { e.Details = json.RawMessage("null") }},
		{"details malformed JSON", func(e *audit.Event) { e.Details = json.RawMessage("{") }},
		{"details unmarshalable", func(e *audit.Event) { e.Details = map[string]any{"f": func() {}} }},
		{"details too large", func(e *audit.Event) { e.Details = map[string]string{"x": long(audit.MaxDetailsBytes)} }},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, tt := range tests {
			e := event(1)
			tt.change(&e)
			err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := audit.Record(ctx, tx, e)
				return err
			})
			if !errors.Is(err, audit.ErrInvalidEvent) {
				t.Errorf("%s: err = %v, want ErrInvalidEvent", tt.name, err)
			}
		}
		if n := count(t, db, "1 = 1"); n != 0 {
			t.Fatalf("%d invalid events were stored", n)
		}
		// The limits themselves are accepted.
		e := event(1)
		e.ActorKind, e.ActorID = audit.ActorAnonymous, ""
		e.Action = "a." + long(audit.MaxActionLen-2)
		e.TargetType = long(audit.MaxTargetTypeLen)
		e.TargetID, e.RequestID = long(audit.MaxRefLen), "réq-ü"
		e.IP = "2001:DB8:0::1"
		e.Details = nil
		id := record(t, db, e)[0]
		_ = db.Read(ctx, func(tx *store.Tx) error {
			got, err := audit.Get(ctx, tx, id)
			if err != nil || got.IP != "2001:db8::1" || string(got.Details) != "{}" {
				t.Errorf("stored IP %q details %s (%v), want the canonical 2001:db8::1 and {}", got.IP, got.Details, err)
			}
			return nil
		})
		sys := event(2)
		sys.ActorKind, sys.ActorID, sys.IP, sys.RequestID, sys.TargetType, sys.TargetID = audit.ActorSystem, "", "", "", "", ""
		record(t, db, sys)
		seal(t, db)
		verifyOK(t, db)
	})
}

func TestDetailsAreCanonical(t *testing.T) {
	t.Parallel()
	type change struct {
		Status string `json:"status"`
		Amount int64  `json:"amount"`
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		forms := []any{
			map[string]any{"before": change{"pending", 100}, "after": map[string]any{"status": "done", "amount": 100}, "big": json.Number("123456789012345678901234567890")},
			json.RawMessage(` { "big" : 123456789012345678901234567890, "after":{"status":"done","amount":100},"before":{"status":"pending","amount":100}}`),
			struct {
				Big    json.Number `json:"big"`
				Before change      `json:"before"`
				After  change      `json:"after"`
			}{"123456789012345678901234567890", change{"pending", 100}, change{"done", 100}},
		}
		const want = `{"after":{"amount":100,"status":"done"},"before":{"amount":100,"status":"pending"},"big":123456789012345678901234567890}`
		for i, d := range forms {
			e := event(i)
			e.Details = d
			id := record(t, db, e)[0]
			err := db.Read(ctx, func(tx *store.Tx) error {
				got, err := audit.Get(ctx, tx, id)
				if err == nil && string(got.Details) != want {
					t.Errorf("form %d stored as %s, want %s", i, got.Details, want)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Characters JSON-escaping would rewrite are kept as they are.
		e := event(9)
		e.Details = map[string]string{"memo": "<b>&</b> ü"}
		id := record(t, db, e)[0]
		_ = db.Read(ctx, func(tx *store.Tx) error {
			got, err := audit.Get(ctx, tx, id)
			if err != nil || string(got.Details) != `{"memo":"<b>&</b> ü"}` {
				t.Errorf("stored %s, %v", got.Details, err)
			}
			return nil
		})
	})
}

func TestSealerRunSealsOnShutdown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		recordN(t, db, 7)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // shutdown right away: only the final seal runs
		s := audit.NewSealer(db, slog.New(slog.DiscardHandler), time.Hour)
		if err := s.Run(ctx); err != nil {
			t.Fatalf("run: %v", err)
		}
		if rep := verifyOK(t, db); rep.Verified != 7 || rep.Unsealed != 0 {
			t.Fatalf("after Run: %+v", rep)
		}
	})
}

func TestSealOnceIsBoundedPerTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = audit.MaxSealBatch + 7
		err := db.Write(ctx, func(tx *store.Tx) error {
			for i := range n {
				if _, err := audit.Record(ctx, tx, event(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := seal(t, db); got != n {
			t.Fatalf("sealed %d, want %d", got, n)
		}
		if rep := verifyOK(t, db); rep.Verified != n {
			t.Fatalf("verified %d, want %d", rep.Verified, n)
		}
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ids := recordN(t, db, 12) // actions cycle auth.login, transfer.approved, user.role_changed
		seal(t, db)
		list := func(f audit.Filter) audit.Page {
			t.Helper()
			var p audit.Page
			err := db.Read(ctx, func(tx *store.Tx) error {
				var err error
				p, err = audit.List(ctx, tx, f)
				return err
			})
			if err != nil {
				t.Fatalf("list %+v: %v", f, err)
			}
			return p
		}
		idsOf := func(p audit.Page) []string {
			var out []string
			for _, e := range p.Events {
				out = append(out, e.ID)
			}
			return out
		}
		// Pages of 5, newest first, every event once.
		var all []string
		cursor := ""
		for range 10 {
			p := list(audit.Filter{Limit: 5, Cursor: cursor})
			all = append(all, idsOf(p)...)
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if len(all) != 12 || all[0] != ids[11] || all[11] != ids[0] {
			t.Fatalf("paged %v, want the 12 events newest first", all)
		}
		if p := list(audit.Filter{Limit: 12}); p.NextCursor != "" || len(p.Events) != 12 {
			t.Fatalf("exact page: %d events, cursor %q", len(p.Events), p.NextCursor)
		}
		// Filters.
		if got := idsOf(list(audit.Filter{Action: "transfer.approved"})); len(got) != 4 || got[0] != ids[9] {
			t.Fatalf("action filter: %v", got)
		}
		if got := idsOf(list(audit.Filter{Action: "auth.*"})); len(got) != 4 || got[0] != ids[11] {
			t.Fatalf("action prefix filter: %v", got)
		}
		if got := idsOf(list(audit.Filter{ActorID: "usr_1"})); len(got) != 4 {
			t.Fatalf("actor filter: %v", got)
		}
		// On SQLite an actor's events come from the bulk index audit_actors
		// up to its mark and from the events past it: pages of one, with
		// other filters, read the same with none, all or half of them
		// indexed.
		actorPages := func() string {
			t.Helper()
			var out []string
			for _, f := range []audit.Filter{{ActorID: "usr_1"}, {ActorID: "usr_0", Action: "auth.*"}, {ActorID: "usr_2", Limit: 1}} {
				for range 20 {
					p := list(f)
					out = append(out, idsOf(p)...)
					if f.Cursor = p.NextCursor; f.Cursor == "" {
						break
					}
				}
				out = append(out, "|")
			}
			return strings.Join(out, " ")
		}
		none := actorPages()
		if strings.Count(none, "aud_") != 12 {
			t.Fatalf("actor pages: %s", none)
		}
		if err := store.NewIndexer(db, slog.New(slog.DiscardHandler), audit.ActorsIndex).CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if got := actorPages(); got != none {
			t.Fatalf("actor pages, all indexed:\n%s\nwant\n%s", got, none)
		}
		if db.Dialect() == store.SQLite {
			err := db.Write(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `DELETE FROM audit_actors WHERE event_pos > 6`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE index_marks SET upto = 6 WHERE name = 'audit_actors'`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := actorPages(); got != none {
				t.Fatalf("actor pages, half indexed:\n%s\nwant\n%s", got, none)
			}
		}
		if got := idsOf(list(audit.Filter{TargetType: "transfer", TargetID: "trf_3"})); len(got) != 1 || got[0] != ids[2] {
			t.Fatalf("target filter: %v", got)
		}
		if got := idsOf(list(audit.Filter{From: t0.Add(3 * time.Second), To: t0.Add(6 * time.Second)})); len(got) != 3 || got[0] != ids[4] || got[2] != ids[2] {
			t.Fatalf("time filter: %v", got)
		}
		// Bounds are exact to the microsecond, and out-of-range bounds work.
		if got := idsOf(list(audit.Filter{From: t0.Add(3*time.Second + time.Microsecond), To: t0.Add(6*time.Second - time.Microsecond)})); len(got) != 2 || got[0] != ids[4] || got[1] != ids[3] {
			t.Fatalf("time filter to the microsecond: %v", got)
		}
		if got := idsOf(list(audit.Filter{From: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)})); len(got) != 12 {
			t.Fatalf("wide time filter: %v", got)
		}
		// Bad filters are client errors naming the field.
		for _, f := range []audit.Filter{{Limit: audit.MaxListLimit + 1}, {Limit: -1}, {Cursor: "x"}, {Cursor: "-3"}, {Action: "Auth"}, {Action: ".*"}, {ActorID: strings.Repeat("u", audit.MaxRefLen+1)}, {TargetID: "trf\n"}, {TargetType: "Transfer"}} {
			err := db.Read(ctx, func(tx *store.Tx) error {
				_, err := audit.List(ctx, tx, f)
				return err
			})
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("list %+v: err = %v, want validation_failed", f, err)
			}
		}
		err := db.Read(ctx, func(tx *store.Tx) error {
			_, err := audit.Get(ctx, tx, "aud_01ARZ3NDEKTSV4RRFFQ69G5FAV")
			if !fault.Is(err, fault.NotFound) {
				t.Errorf("get missing: %v", err)
			}
			_, err = audit.Get(ctx, tx, "nonsense")
			if !fault.Is(err, fault.NotFound) {
				t.Errorf("get malformed: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
