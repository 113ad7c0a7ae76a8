package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/testapp"
)

// BenchmarkListTransfers measures GET /transfers (the first page, 20
// transfers) for a customer party to many transfers, as sender and as
// recipient: the page should cost about the same however many there are.
//
//	go test -run '^$' -bench BenchmarkListTransfers ./internal/e2e/
func BenchmarkListTransfers(b *testing.B) {
	for _, engine := range storetest.Engines {
		for _, n := range []int{1_000, 20_000} {
			b.Run(fmt.Sprintf("%s/transfers=%d", engine, n), func(b *testing.B) {
				benchListTransfers(b, engine, n)
			})
		}
	}
}

func benchListTransfers(b *testing.B, engine store.Dialect, n int) {
	env := testapp.Start(b, engine, testapp.Options{Env: map[string]string{"LOG_LEVEL": "error"}})
	l := newLedgerEnv(b, env)
	alice, _ := register(b, env, "list-alice@example.com")
	bob, _ := register(b, env, "list-bob@example.com")
	a1 := openAccount(b, alice, "checking", "USD")
	b1 := openAccount(b, bob, "checking", "USD")
	l.fund(b, a1, 1_000_00)
	l.fund(b, b1, 1_000_00)
	for _, c := range [][2]string{{a1, b1}, {b1, a1}} {
		resp, err := sendTransfer(map[string]*client.Client{a1: alice, b1: bob}[c[0]], l.key(), cashBody(c[0], c[1], 1_00))
		mustStatus(b, resp, err, http.StatusCreated)
	}
	// Copies of those two real transfers, alternately, under new IDs.
	at := time.Now().Add(-time.Hour)
	err := env.App.DB().Write(context.Background(), func(tx *store.Tx) error {
		var sent, received string
		q := `SELECT id FROM transfers WHERE kind = 'cash' AND from_account_id = ?`
		if err := tx.QueryRow(ctx, q, a1).Scan(&sent); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, q, b1).Scan(&received); err != nil {
			return err
		}
		const cols = `kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
			asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at,
			executed_at, required_approvals, approvals, risk_score, risk_reasons, expires_at, reverses_id,
			reversal_id, reason, decided_at`
		for i := range n {
			src := sent
			if i%2 == 1 {
				src = received
			}
			_, err := tx.Exec(ctx, `INSERT INTO transfers (id, `+cols+`) SELECT ?, `+cols+` FROM transfers WHERE id = ?`,
				id.New("trf", at.Add(time.Duration(i)*time.Millisecond)), src)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pc := plainClient(b, env, alice.Token)
	resp, err := pc.Get(ctx, "/api/v1/transfers?limit=20")
	mustStatus(b, resp, err, http.StatusOK)
	if page := decode[struct {
		Data []transferBody `json:"data"`
	}](b, resp); len(page.Data) != 20 {
		b.Fatalf("first page: %d transfers, want 20", len(page.Data))
	}
	for b.Loop() {
		resp, err := pc.Get(ctx, "/api/v1/transfers?limit=20")
		if err != nil || resp.Status != http.StatusOK {
			b.Fatalf("list: %v %v", resp, err)
		}
	}
}
