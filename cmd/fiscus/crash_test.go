package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// Crash test limits.
const (
	crashAccounts        = 6
	crashClients         = 16
	crashFund            = 10_000_000 // minor units per account
	crashAmountMax       = 1000       // minor units
	crashAckedBeforeKill = 500        // acknowledged transfers before the SIGKILL (0.3-1 s of load on 2 cores)
	crashCheckers        = 8          // concurrent verification requests after the restart
	crashLoadCap         = 2 * time.Minute
)

// A server killed with SIGKILL in the middle of a transfer load loses
// nothing it acknowledged and applies nothing twice: after a restart on the
// same database every acknowledged transfer exists once with its amount, its
// idempotent retry returns it rather than moving money again, the requests
// that were cut off apply at most once when re-sent, every account's balance
// is its funding plus exactly the transfers that exist, "fiscus ledger
// verify" finds the ledger clean and "fiscus audit verify" the audit chain
// intact.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			env := serverEnv(t, e)
			srv := startFiscus(t, env)
			hc := newBenchHTTP(crashClients + crashCheckers)
			t.Cleanup(hc.CloseIdleConnections)
			s, err := setupBench(ctx, hc, benchOptions{URL: srv.URL, AdminEmail: "admin@fintrade.com", AdminPassword: "admin123",
				Accounts: crashAccounts, SetupClients: 3, Fund: crashFund}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}

			// Load until enough transfers are acknowledged, then kill -9.
			loadCtx, stopLoad := context.WithCancel(ctx)
			defer stopLoad()
			var (
				mu      sync.Mutex
				results []transferResult
				acked   atomic.Int64
				enough  = make(chan struct{})
				summary = make(chan benchSummary, 1)
			)
			go func() {
				summary <- runLoad(loadCtx, loadSpec{URL: srv.URL, Accounts: s.Accounts, Clients: crashClients, Duration: crashLoadCap,
					AmountMax: crashAmountMax, Seed: 1, KeyPrefix: "crash-" + s.RunID,
					OnResult: func(r transferResult) {
						mu.Lock()
						results = append(results, r)
						mu.Unlock()
						if r.acked() && acked.Add(1) == crashAckedBeforeKill {
							close(enough)
						}
					}})
			}()
			select {
			case <-enough:
			case sum := <-summary:
				t.Fatalf("the load ended before %d transfers were acknowledged: %+v", crashAckedBeforeKill, sum)
			}
			srv.kill(t)
			stopLoad()
			sum := <-summary
			var ok, cut []transferResult
			for _, r := range results {
				switch {
				case r.acked():
					ok = append(ok, r)
				case r.Status == 0 || r.Status >= 500 || r.Problem == benchCodeInFlight:
					cut = append(cut, r)
				case r.Problem != benchCodeInsufficient:
					t.Errorf("transfer %s refused before the crash: %d %s", r.Key, r.Status, r.Problem)
				}
			}
			for status, n := range sum.ByStatus {
				if status >= 500 {
					t.Errorf("%d answers %d before the crash", n, status)
				}
			}
			t.Logf("%s: %d acknowledged, %d cut off by the kill, %d requests", e, len(ok), len(cut), sum.Requests)

			// Restart on the same database; the sessions survive.
			srv = startFiscus(t, env)
			s.Admin.BaseURL = srv.URL
			for _, a := range s.Accounts {
				a.Client.BaseURL = srv.URL
			}
			// resend sends r again as its sender, on a connection of its own.
			resend := func(r *transferResult) error {
				c, err := newBenchConn(srv.URL, benchRequestTimeout)
				if err != nil {
					return err
				}
				defer c.Close()
				sendTransfer(ctx, c, s.Accounts[r.From].Client.Token, r, nil)
				return nil
			}

			// (a) Every acknowledged transfer exists with its amount, and its
			// retry replays it instead of moving money again.
			checkEach(t, ok, func(r transferResult) error {
				owner := s.Accounts[r.From]
				tr, resp, err := owner.Client.Transfer(ctx, r.TransferID)
				if err != nil {
					return err
				}
				if resp.Status != http.StatusOK || tr.ID != r.TransferID || tr.Amount != r.Amount || tr.Status != "executed" ||
					tr.FromAccountID != owner.ID || tr.ToAccountID != s.Accounts[r.To].ID {
					return fmt.Errorf("GET transfer %s (key %s, amount %d): %s", r.TransferID, r.Key, r.Amount, resp.Body)
				}
				again := transferResult{Key: r.Key, Body: r.Body, From: r.From}
				if err := resend(&again); err != nil {
					return err
				}
				if again.Status != r.Status || again.TransferID != r.TransferID || !again.Replayed {
					return fmt.Errorf("retry of %s (transfer %s) answered %d %q %v", r.Key, r.TransferID, again.Status, again.TransferID, again.Err)
				}
				return nil
			})

			// Requests cut off by the kill: re-sent with the same key and body,
			// each applies now or had applied before, never both.
			var (
				resent   []transferResult
				resentMu sync.Mutex
				replayed atomic.Int64 // cut off, yet applied before the kill
			)
			checkEach(t, cut, func(r transferResult) error {
				again := transferResult{Key: r.Key, Body: r.Body, From: r.From, To: r.To, Amount: r.Amount}
				if err := resend(&again); err != nil {
					return err
				}
				if !again.acked() && again.Problem != benchCodeInsufficient {
					return fmt.Errorf("re-sent %s: %d %q %v", r.Key, again.Status, again.Problem, again.Err)
				}
				if again.Replayed {
					replayed.Add(1)
				}
				resentMu.Lock()
				resent = append(resent, again)
				resentMu.Unlock()
				return nil
			})
			if t.Failed() {
				t.FailNow()
			}
			t.Logf("%s: of %d re-sent, %d had applied before the kill (replayed)", e, len(cut), replayed.Load())

			// The transfers that exist are exactly those the clients were
			// told about, one per idempotency key.
			want := map[string]transferResult{} // by transfer id
			for _, r := range append(ok, resent...) {
				if !r.acked() {
					continue
				}
				if prev, dup := want[r.TransferID]; dup {
					t.Errorf("keys %s and %s both answered transfer %s", prev.Key, r.Key, r.TransferID)
				}
				want[r.TransferID] = r
			}
			byAccount := map[string]int{}
			for i, a := range s.Accounts {
				byAccount[a.ID] = i
			}
			exist := map[string]client.Transfer{}
			for _, a := range s.Accounts {
				list, err := a.Client.Transfers(ctx, url.Values{"account_id": {a.ID}, "limit": {"100"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, tr := range list {
					if tr.Kind == "cash" {
						exist[tr.ID] = tr
					}
				}
			}
			for id, tr := range exist {
				if _, ok := want[id]; !ok {
					t.Errorf("transfer %s of %d exists but no client was told about it (applied twice?)", id, tr.Amount)
				}
			}
			for id, r := range want {
				if _, ok := exist[id]; !ok {
					t.Errorf("transfer %s (key %s) was acknowledged but is not listed", id, r.Key)
				}
			}

			// (c) Each balance is its funding plus exactly those transfers, so
			// the total is conserved.
			expect := make([]int64, len(s.Accounts))
			for i := range expect {
				expect[i] = crashFund
			}
			for _, tr := range exist {
				from, okFrom := byAccount[tr.FromAccountID]
				to, okTo := byAccount[tr.ToAccountID]
				if !okFrom || !okTo || tr.Status != "executed" {
					t.Fatalf("unexpected transfer %+v", tr)
				}
				expect[from] -= tr.Amount
				expect[to] += tr.Amount
			}
			var total int64
			for i, a := range s.Accounts {
				acct, resp, err := a.Client.Account(ctx, a.ID)
				if err != nil || resp.Status != http.StatusOK {
					t.Fatalf("account %s: %v %v", a.ID, resp, err)
				}
				if acct.Balance != expect[i] {
					t.Errorf("account %s: balance %d, want %d", a.ID, acct.Balance, expect[i])
				}
				total += acct.Balance
			}
			if total != crashFund*crashAccounts {
				t.Errorf("the accounts hold %d in total, want %d", total, crashFund*crashAccounts)
			}
			rep, resp, err := s.Admin.VerifyLedger(ctx)
			if err != nil || resp.Status != http.StatusOK || !rep.OK {
				t.Errorf("POST /admin/ledger/verify: %v %+v %v", resp, rep, err)
			}

			// (b) The ledger itself, checked on the database.
			srv.stop(t)
			cmd := exec.Command(binary(t), "ledger", "verify", "--quiet")
			cmd.Env = env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "ledger OK") {
				t.Errorf("fiscus ledger verify: %v\n%s", err, out.String())
			}
			// (c) The audit chain, which the posting engine extends in its
			// batches, and which the kill interrupted mid-flight.
			cmd = exec.Command(binary(t), "audit", "verify")
			cmd.Env = env
			out.Reset()
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "audit chain intact") {
				t.Errorf("fiscus audit verify: %v\n%s", err, out.String())
			}
		})
	}
}

// checkEach runs check on every item, crashCheckers at a time, and reports
// each error (at most 20) as a test error.
func checkEach[T any](t *testing.T, items []T, check func(T) error) {
	t.Helper()
	const maxReported = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		reported int
		next     atomic.Int64
	)
	for range crashCheckers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				if err := check(items[i]); err != nil {
					mu.Lock()
					if reported < maxReported {
						t.Error(err)
					}
					reported++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if reported > maxReported {
		t.Errorf("... and %d more", reported-maxReported)
	}
}
