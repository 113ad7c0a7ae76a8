package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/testapp"
)

// BenchmarkHTTPTransfers measures authenticated HTTP cash transfers, each
// with its own Idempotency-Key, durable at the answer, from 32 concurrent
// clients among 20 funded accounts, server and clients in one process. Each
// b.N iteration is one transfer. For profiles of the whole path:
//
//	go test -run '^$' -bench BenchmarkHTTPTransfers -benchtime 20000x ./internal/e2e/
//	go test -run '^$' -bench 'BenchmarkHTTPTransfers/sqlite/rules=default' -benchtime 20000x -cpuprofile cpu.out ./internal/e2e/
//
// The load tool (fiscus bench) measures the same over real sockets between
// two processes; BENCHMARKS.md records both.
//
// Sub-benchmarks: rules=default runs the default fraud and velocity rules
// (their history queries included) with the review score out of reach, so
// that the load, which is exactly what the velocity rules flag, executes
// instead of waiting for review; rules=off runs none.
func BenchmarkHTTPTransfers(b *testing.B) {
	off := filepath.Join(b.TempDir(), "no-rules.json")
	if err := os.WriteFile(off, []byte(`{"rules": []}`), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, engine := range storetest.Engines {
		for _, rules := range []struct{ name, key, value string }{
			{"default", "RISK_REVIEW_SCORE", "1000000"},
			{"off", "RISK_RULES_FILE", off},
		} {
			b.Run(string(engine)+"/rules="+rules.name, func(b *testing.B) {
				benchHTTPTransfers(b, engine, map[string]string{"LOG_LEVEL": "error", rules.key: rules.value})
			})
		}
	}
}

func benchHTTPTransfers(b *testing.B, engine store.Dialect, vars map[string]string) {
	const clients, accounts, funding = 32, 20, 1_000_000_000
	env := testapp.Start(b, engine, testapp.Options{Env: vars})
	l := &ledgerEnv{Env: env}
	admin, _ := staff(b, env, "bench-admin@example.com", authz.Admin)
	l.admin = plainClient(b, env, admin.Token)
	type acct struct {
		id string
		c  *client.Client
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}, Timeout: time.Minute}
	var accts []acct
	for i := range accounts {
		vc, _ := register(b, env, fmt.Sprintf("bench-%d@example.com", i))
		id := openAccount(b, vc, "checking", "USD")
		l.fund(b, id, funding)
		c := client.NewWithHTTP(env.URL, hc)
		c.Token = vc.Token
		accts = append(accts, acct{id, c})
	}
	var next atomic.Int64
	lats := make([][]time.Duration, clients)
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for next.Add(1) <= int64(b.N) {
				from := accts[rng.IntN(accounts)]
				to := accts[rng.IntN(accounts)]
				for to.id == from.id {
					to = accts[rng.IntN(accounts)]
				}
				t0 := time.Now()
				resp, err := sendTransfer(from.c, fmt.Sprintf("bench-%d-%d", w, rng.Uint64()), cashBody(from.id, to.id, 1+rng.Int64N(1_000)))
				if err != nil || resp.Status != http.StatusCreated {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d transfers failed", failed.Load())
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	pct := func(p int) float64 { return float64(all[(len(all)-1)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "transfers/s")
	b.ReportMetric(pct(50), "p50_ms")
	b.ReportMetric(pct(99), "p99_ms")
	st := env.App.Engine().Stats()
	b.ReportMetric(float64(st.Ops)/float64(max(st.Batches, 1)), "ops/batch")
	l.verifyClean(b)
}

// plainClient is a client without response validation (which would compete
// with the server for CPU); the tests validate the same requests.
func plainClient(_ testing.TB, env *testapp.Env, token string) *client.Client {
	c := client.New(env.URL)
	c.Token = token
	return c
}
