package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/store"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// event returns a valid, distinct event number i.
func event(i int) audit.Event {
	return audit.Event{
		At:         t0.Add(time.Duration(i) * time.Second),
		ActorKind:  audit.ActorUser,
		ActorID:    fmt.Sprintf("usr_%d", i%3),
		Action:     []string{"auth.login", "transfer.approved", "user.role_changed"}[i%3],
		TargetType: "transfer",
		TargetID:   fmt.Sprintf("trf_%d", i),
		RequestID:  fmt.Sprintf("req_%d", i),
		IP:         "198.51.100.4",
		Details:    map[string]any{"before": map[string]any{"status": "pending_approval"}, "after": map[string]any{"status": "executed", "n": i}},
	}
}

// record stores events, each in its own transaction, and returns their IDs.
func record(t testing.TB, db *store.DB, events ...audit.Event) []string {
	t.Helper()
	ids := make([]string, 0, len(events))
	for _, e := range events {
		err := db.Write(context.Background(), func(tx *store.Tx) error {
			id, err := audit.Record(context.Background(), tx, e)
			if err == nil {
				ids = append(ids, id)
			}
			return err
		})
		if err != nil {
			t.Fatalf("record %s: %v", e.Action, err)
		}
	}
	return ids
}

// recordN records events 1..n.
func recordN(t testing.TB, db *store.DB, n int) []string {
	t.Helper()
	events := make([]audit.Event, n)
	for i := range events {
		events[i] = event(i + 1)
	}
	return record(t, db, events...)
}

func newSealer(db *store.DB) *audit.Sealer {
	return audit.NewSealer(db, slog.New(slog.DiscardHandler), time.Hour)
}

// seal seals everything pending and returns how many events it sealed.
func seal(t testing.TB, db *store.DB) int {
	t.Helper()
	n, err := newSealer(db).SealOnce(context.Background())
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return n
}

// verifyOK verifies and fails the test on any error.
func verifyOK(t testing.TB, db *store.DB) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), db, audit.Options{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// verifyBroken verifies, expects a broken chain and returns its problem.
func verifyBroken(t testing.TB, db *store.DB, opt audit.Options) audit.Problem {
	t.Helper()
	rep, err := audit.Verify(context.Background(), db, opt)
	if !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("verify: err = %v, want ErrBroken (report %+v)", err, rep)
	}
	var be *audit.BrokenError
	if !errors.As(err, &be) || rep.FirstBad == nil || *rep.FirstBad != be.Problem {
		t.Fatalf("verify: error %v and report %+v disagree", err, rep.FirstBad)
	}
	return be.Problem
}

// exec runs raw SQL, the way someone with database access would.
func exec(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(context.Background(), q, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// entryAt returns the sealed event at seq.
func entryAt(t testing.TB, db *store.DB, seq int64) audit.Entry {
	t.Helper()
	var e audit.Entry
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		var id string
		if err := tx.QueryRow(context.Background(), `SELECT id FROM audit_events WHERE seq = ?`, seq).Scan(&id); err != nil {
			return err
		}
		var err error
		e, err = audit.Get(context.Background(), tx, id)
		return err
	})
	if err != nil {
		t.Fatalf("event at seq %d: %v", seq, err)
	}
	return e
}

// count returns the number of rows matching a condition on audit_events.
func count(t testing.TB, db *store.DB, where string, args ...any) int {
	t.Helper()
	var n int
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE `+where, args...).Scan(&n)
	})
	if err != nil {
		t.Fatalf("count %s: %v", where, err)
	}
	return n
}
