package journal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// oneBatch submits ops to a fresh engine on db that is not running yet, so
// that its writer takes them all into one batch, and returns the outcomes
// and the engine's counters.
func oneBatch(t *testing.T, db *store.DB, reg *money.Registry, ops []journal.Op) ([]journal.Result, []error, journal.Stats) {
	t.Helper()
	eng := journal.New(db, journal.Options{Assets: func() *money.Registry { return reg }})
	var batches []int
	eng.SetBeforeBatch(func(n int) { batches = append(batches, n) })
	done := make(chan struct{})
	var res []journal.Result
	var errs []error
	go func() { defer close(done); res, errs = eng.SubmitAll(context.Background(), ops) }()
	waitQueued(t, eng, len(ops))
	startEngine(t, eng)
	<-done
	if len(batches) != 1 || batches[0] != len(ops) {
		t.Fatalf("batches %v, want one of %d", batches, len(ops))
	}
	return res, errs, eng.Stats()
}

// stateTable creates test_state with the given rows (id → status).
func stateTable(t *testing.T, db *store.DB, rows map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := db.SQL().ExecContext(ctx, `CREATE TABLE test_state (id TEXT PRIMARY KEY, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '')`)
	must(t, err)
	for id, status := range rows {
		_, err := db.SQL().ExecContext(ctx, db.Rebind(`INSERT INTO test_state (id, status) VALUES (?, ?)`), id, status)
		must(t, err)
	}
}

// state reads a test_state row ("" when missing).
func (e *env) state(id string) (status, note string) {
	e.t.Helper()
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT status, note FROM test_state WHERE id = ?`, id).Scan(&status, &note)
		if store.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return status, note
}

// approve moves test_state row id from pending to done, noting the entry
// the operation wrote (a FromResult argument).
func approve(id string) journal.Update {
	return journal.Update{
		SQL:  `UPDATE test_state SET status = 'done', note = ? WHERE id = ? AND status = 'pending'`,
		Args: []any{journal.FromResult(func(r journal.Result) any { return r.EntryID }), id},
		Want: 1,
	}
}

// TestUpdates queues operations carrying conditional updates in one batch:
// those whose updates affect the wanted rows commit with them; a stale one
// (0 rows, or more than wanted, or a row an earlier operation of the batch
// already moved) is refused with CodeStale and wrote nothing — entry,
// postings, balances, hold change, rows, claims — while the rest commit.
// A batch whose updates all hold stays on the fast (on PostgreSQL:
// pipelined) path; one with a stale update goes through careful mode.
func TestUpdates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		stateTable(t, db, map[string]string{"s1": "pending", "s2": "pending", "s3": "pending", "s4": "pending",
			"g1": "group", "g2": "group"})
		_, err := db.SQL().ExecContext(ctx, `CREATE TABLE test_claims (key TEXT PRIMARY KEY, note TEXT NOT NULL)`)
		must(t, err)
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 100_00, usd))
		hold := func(units int64) string {
			r, err := e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: a.ID, Destination: b.ID, Amount: money.New(units, usd)}, Now: t0})
			must(t, err)
			return r.Hold.ID
		}
		voided, kept := hold(10_00), hold(20_00)
		claim := func(key string) []journal.Row {
			return []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{key, "claim"}}}
		}
		row := func(key string) []journal.Row {
			return []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{key, "row"}}}
		}
		entryIDs := make([]string, 8)
		pay := func(i int, units int64, updates ...journal.Update) journal.Post {
			entry := withID(transfer(a.ID, b.ID, units, usd), t0)
			entryIDs[i] = entry.ID
			return journal.Post{Entry: entry, Now: t0, Updates: updates}
		}
		stalePay := pay(1, 2_00, approve("missing"))
		stalePay.Claims, stalePay.Rows = claim("c1"), row("r1")
		okPay := pay(0, 1_00, approve("s1"))
		okPay.Claims, okPay.Rows = claim("c0"), row("r0")
		staleHoldEntry := "ent_stale_hold"
		_, errs, st := oneBatch(t, db, e.reg, []journal.Op{
			okPay,                       // 0: ok, with its claim and row
			stalePay,                    // 1: no such row: stale
			pay(2, 4_00, approve("s1")), // 2: op 0 moved s1 already: stale
			pay(3, 8_00),                // 3: no update: ok
			journal.VoidHold{HoldID: voided, Now: t0, Updates: []journal.Update{approve("s2")}},                          // 4: ok
			journal.PostHold{HoldID: kept, EntryID: staleHoldEntry, Now: t0, Updates: []journal.Update{approve("s1")}},   // 5: stale
			pay(6, 16_00, journal.Update{SQL: `UPDATE test_state SET note = 'seen' WHERE status = 'group'`, Want: 2}),    // 6: ok, 2 rows
			pay(7, 32_00, journal.Update{SQL: `DELETE FROM test_state WHERE status = ?`, Args: []any{"group"}, Want: 1}), // 7: 2 rows: stale
		})
		for i, err := range errs {
			switch i {
			case 1, 2, 5, 7:
				fe := wantCode(t, err, journal.CodeStale)
				want := int64(0)
				if i == 7 {
					want = 2
				}
				if fe.Extra["affected"] != want || fe.Extra["update"] != 0 {
					t.Errorf("op %d: extra %v, want affected %d", i, fe.Extra, want)
				}
			default:
				if err != nil {
					t.Errorf("op %d: %v", i, err)
				}
			}
		}
		if st.Careful != 1 {
			t.Errorf("careful runs %d, want 1 (the stale updates send the batch there)", st.Careful)
		}
		if got := e.balance(a.ID, usd); got.Posted != 100_00-25_00 || got.Held != 20_00 {
			t.Errorf("a = %+v, want 75.00 posted (1+8+16 paid) and 20.00 still held", got)
		}
		for i, id := range entryIDs {
			want := 0
			if i == 0 || i == 3 || i == 6 {
				want = 1
			}
			if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, id); n != want {
				t.Errorf("op %d: %d entries, want %d", i, n, want)
			}
			if n := e.count(`SELECT count(*) FROM postings WHERE entry_id = ?`, id); n != 2*want {
				t.Errorf("op %d: %d postings, want %d", i, n, 2*want)
			}
		}
		if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, staleHoldEntry); n != 0 {
			t.Errorf("the stale PostHold wrote its entry")
		}
		if n := e.count(`SELECT count(*) FROM holds WHERE id = ? AND status = 'pending'`, kept); n != 1 {
			t.Errorf("the stale PostHold changed its hold")
		}
		if n := e.count(`SELECT count(*) FROM holds WHERE id = ? AND status = 'voided'`, voided); n != 1 {
			t.Errorf("the VoidHold with a good update did not void")
		}
		if n := e.count(`SELECT count(*) FROM test_claims WHERE key IN ('c1', 'r1')`); n != 0 {
			t.Errorf("the stale operation left %d claims or rows", n)
		}
		if n := e.count(`SELECT count(*) FROM test_claims WHERE key IN ('c0', 'r0')`); n != 2 {
			t.Errorf("the good operation wrote %d of its claim and row", n)
		}
		if status, note := e.state("s1"); status != "done" || note != entryIDs[0] {
			t.Errorf("s1 = %s/%s, want done by %s", status, note, entryIDs[0])
		}
		if status, _ := e.state("s2"); status != "done" {
			t.Errorf("s2 = %s, want done", status)
		}
		if n := e.count(`SELECT count(*) FROM test_state WHERE status = 'group' AND note = 'seen'`); n != 2 {
			t.Errorf("%d group rows seen, want 2 (and none deleted)", n)
		}

		// Alone and fine, an update rides the fast path (on PostgreSQL the
		// pipeline with its own count check); alone and stale, it is refused.
		before := e.eng.Stats().Careful
		res, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(a.ID, b.ID, 1, usd), Now: t0, Updates: []journal.Update{approve("s3")}})
		must(t, err)
		if e.eng.Stats().Careful != before {
			t.Errorf("a batch whose updates hold ran in careful mode")
		}
		if status, note := e.state("s3"); status != "done" || note != res.EntryID {
			t.Errorf("s3 = %s/%s, want done by %s", status, note, res.EntryID)
		}
		stale := journal.Post{Entry: withID(transfer(a.ID, b.ID, 1, usd), t0), Now: t0, Updates: []journal.Update{approve("s4"), approve("s3")}}
		_, err = e.eng.Submit(ctx, stale)
		if fe := wantCode(t, err, journal.CodeStale); fe.Extra["update"] != 1 {
			t.Errorf("extra %v, want the second update named", fe.Extra)
		}
		if status, _ := e.state("s4"); status != "pending" {
			t.Errorf("s4 = %s: the first update of a refused operation stayed", status)
		}
		if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, stale.Entry.ID); n != 0 {
			t.Errorf("the stale operation's entry was written")
		}
		e.verify()
	})
}

// TestUpdateWaitsForConcurrentTransaction (PostgreSQL): an update that
// meets a row held by a concurrent transaction waits for it and re-checks
// its WHERE against the committed row: refused when the other transaction
// moved the row out of the expected state, accepted when it did not.
func TestUpdateWaitsForConcurrentTransaction(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	stateTable(t, db, map[string]string{"rejected": "pending", "touched": "pending"})
	e := newEnv(t, db, journal.Options{})
	ext := e.system(ledger.KindExternal, usd)
	a := e.open(ledger.KindChecking, usd, 0)
	e.start()
	for _, c := range []struct {
		id, concurrent string
		wantStale      bool
	}{
		{"rejected", `UPDATE test_state SET status = 'rejected' WHERE id = 'rejected'`, true},
		{"touched", `UPDATE test_state SET note = 'looked at' WHERE id = 'touched'`, false},
	} {
		tx, err := db.SQL().BeginTx(ctx, nil)
		must(t, err)
		t.Cleanup(func() { _ = tx.Rollback() })
		_, err = tx.ExecContext(ctx, c.concurrent)
		must(t, err)
		errc := make(chan error, 1)
		go func() {
			_, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 1_00, usd), Now: t0, Updates: []journal.Update{approve(c.id)}})
			errc <- err
		}()
		waitLockWait(t, db, "test_state")
		must(t, tx.Commit())
		err = <-errc
		if c.wantStale {
			wantCode(t, err, journal.CodeStale)
		} else if err != nil {
			t.Errorf("%s: %v", c.id, err)
		}
	}
	if got := e.balance(a.ID, usd).Posted; got != 1_00 {
		t.Errorf("a = %d, want 1.00 (only the second transfer)", got)
	}
	if status, _ := e.state("touched"); status != "done" {
		t.Errorf("touched = %s, want done", status)
	}
	if status, _ := e.state("rejected"); status != "rejected" {
		t.Errorf("rejected = %s", status)
	}
}

// waitLockWait blocks until some backend waits for a lock in a statement
// mentioning table (polling pg_stat_activity, each time in a new
// transaction, since a transaction sees one snapshot of it; no sleeping for
// a fixed time).
func waitLockWait(t *testing.T, db *store.DB, table string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.SQL().QueryRowContext(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, table).Scan(&n)
		must(t, err)
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no statement waits for the row lock")
		}
		runtimeGosched()
	}
}

// TestUpdateAndCounterValidation: malformed updates and counters are
// refused before they reach the writer.
func TestUpdateAndCounterValidation(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, journal.Options{})
	ext := e.system(ledger.KindExternal, usd)
	a := e.open(ledger.KindChecking, usd, 0)
	e.start()
	up := func(sql string, want int64, args ...any) []journal.Update {
		return []journal.Update{{SQL: sql, Args: args, Want: want}}
	}
	ctr := func(key string, max int64, exp time.Time) []journal.Counter {
		return []journal.Counter{{Key: key, Delta: 1, Max: max, ExpiresAt: exp}}
	}
	later := t0.Add(time.Hour)
	nine := make([]journal.Update, journal.MaxUpdatesPerOp+1)
	for i := range nine {
		nine[i] = journal.Update{SQL: "UPDATE accounts SET name = name WHERE id = 'x'", Want: 0}
	}
	nineC := make([]journal.Counter, journal.MaxCountersPerOp+1)
	for i := range nineC {
		nineC[i] = journal.Counter{Key: "k", Delta: 1, ExpiresAt: later}
	}
	for _, c := range []struct {
		name     string
		updates  []journal.Update
		counters []journal.Counter
		ok       bool
	}{
		{"good update", up("UPDATE accounts SET name = ? WHERE id = ? AND name = '?'", 0, "n", "x"), nil, true},
		{"good counter", nil, ctr(strings.Repeat("k", journal.MaxCounterKeyLen), 10, later), true},
		{"too many updates", nine, nil, false},
		{"empty SQL", up("  ", 1), nil, false},
		{"long SQL", up("UPDATE accounts SET name = name WHERE id = '"+strings.Repeat("x", journal.MaxUpdateSQLLen)+"'", 1), nil, false},
		{"not an update", up("SELECT 1", 1), nil, false},
		{"insert", up("INSERT INTO x VALUES (1)", 1), nil, false},
		{"two statements", up("UPDATE accounts SET name = 'a'; DROP TABLE accounts", 1), nil, false},
		{"returning", up("UPDATE accounts SET name = 'a' RETURNING id", 1), nil, false},
		{"missing argument", up("UPDATE accounts SET name = ? WHERE id = ?", 1, "a"), nil, false},
		{"extra argument", up("UPDATE accounts SET name = 'a'", 1, "a"), nil, false},
		{"negative want", up("UPDATE accounts SET name = 'a'", -1), nil, false},
		{"too many counters", nil, nineC, false},
		{"empty key", nil, ctr("", 0, later), false},
		{"long key", nil, ctr(strings.Repeat("k", journal.MaxCounterKeyLen+1), 0, later), false},
		{"control character", nil, ctr("a\nb", 0, later), false},
		{"non-ASCII key", nil, ctr("día", 0, later), false},
		{"negative max", nil, ctr("k", -1, later), false},
		{"no expiry", nil, ctr("k", 0, time.Time{}), false},
	} {
		_, err := e.eng.Submit(context.Background(), journal.Post{Entry: transfer(ext.ID, a.ID, 1, usd), Now: t0, Updates: c.updates, Counters: c.counters})
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		wantCode(t, err, journal.CodeInvalidOp)
	}
}
