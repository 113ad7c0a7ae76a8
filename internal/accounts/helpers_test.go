package accounts_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

var (
	usd = money.MustCurrency("USD")
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

type env struct {
	t     testing.TB
	db    *store.DB
	svc   *accounts.Service
	eng   *journal.Engine
	users atomic.Int64
}

func newEnv(t testing.TB, db *store.DB) *env {
	t.Helper()
	reg, err := money.NewRegistry("ACME")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db,
		svc: accounts.New(accounts.Deps{DB: db, Now: func() time.Time { return t0 }}),
		eng: journal.New(db, journal.Options{Assets: func() *money.Registry { return reg }}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	return e
}

func (e *env) user() string {
	e.t.Helper()
	n := e.users.Add(1)
	uid := id.New("usr", t0)
	e.exec(`INSERT INTO users (id, email, name, password_hash, roles, password_changed_at, created_at, updated_at)
		VALUES (?, ?, 'User', 'x', 'customer', 0, 0, 0)`, uid, fmt.Sprintf("u%d@example.com", n))
	return uid
}

// exec runs raw SQL, for setting up and for corrupting data on purpose.
func (e *env) exec(q string, args ...any) int64 {
	e.t.Helper()
	res, err := e.db.SQL().ExecContext(context.Background(), e.db.Rebind(q), args...)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	n, _ := res.RowsAffected()
	return n
}

func (e *env) open(owner string, kind ledger.Kind, limit int64) accounts.Account {
	e.t.Helper()
	a, err := e.svc.Open(context.Background(), owner, kind, "Main", "USD", limit)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) system(kind ledger.Kind) accounts.Account {
	e.t.Helper()
	a, err := e.svc.SystemAccount(context.Background(), kind, "USD")
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// post commits an entry moving units of asset, at time at.
func (e *env) post(from, to string, units int64, asset money.Asset, at time.Time) journal.Result {
	e.t.Helper()
	r, err := e.eng.Submit(context.Background(), journal.Post{Entry: ledger.Entry{Postings: []ledger.Posting{
		{Account: from, Amount: money.New(-units, asset)},
		{Account: to, Amount: money.New(units, asset)},
	}, Memo: "test"}, Kind: "transfer", Now: at})
	if err != nil {
		e.t.Fatalf("post %s → %s %d: %v", from, to, units, err)
	}
	return r
}

func (e *env) verify() accounts.Report {
	e.t.Helper()
	rep, err := e.svc.Verify(context.Background(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func wantCode(t testing.TB, err error, code fault.Code) {
	t.Helper()
	if fault.CodeOf(err) != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func wantField(t testing.TB, err error, field string) {
	t.Helper()
	fe, ok := fault.As(err)
	if !ok || fe.Code != fault.Invalid || len(fe.Fields) != 1 || fe.Fields[0].Field != field {
		t.Fatalf("err = %v, want a validation error on %s", err, field)
	}
}
