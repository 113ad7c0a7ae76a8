package e2e

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/testapp"
)

// BenchmarkLoginFlood measures, against SQLite with the production Argon2id
// parameters, (a) login throughput under a flood of concurrent logins and
// (b) the latency of an authenticated GET /api/v1/me while the flood runs.
// Each b.N iteration is one authenticated GET; the flood runs alongside.
//
//	go test -run '^$' -bench BenchmarkLoginFlood -benchtime 400x ./internal/e2e/
func BenchmarkLoginFlood(b *testing.B) {
	env := testapp.Start(b, store.SQLite, testapp.Options{Env: map[string]string{
		"ARGON2_MEMORY_KIB": "19456", "ARGON2_ITERATIONS": "2", "LOG_LEVEL": "error",
	}})
	// Plain clients: the validating ones of env.Client would add their own
	// work to every measured request and compete with the server for CPU.
	// The tests validate these same requests against the document.
	c := client.New(env.URL)
	resp, err := c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": "bench@example.com", "password": goodPassword, "name": "Bench"})
	if err != nil || resp.Status != http.StatusCreated {
		b.Fatalf("register: %v %v", resp, err)
	}
	if _, resp, err := c.Login(ctx, "bench@example.com", goodPassword); err != nil || resp.Status != http.StatusOK {
		b.Fatalf("login: %v %v", resp, err)
	}

	const flooders = 16
	stop := make(chan struct{})
	var logins, failures atomic.Int64
	var wg sync.WaitGroup
	for range flooders {
		wg.Go(func() {
			fc := client.New(env.URL)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, resp, err := fc.Login(ctx, "bench@example.com", goodPassword)
				if err != nil || resp.Status != http.StatusOK {
					failures.Add(1)
					continue
				}
				logins.Add(1)
			}
		})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		t0 := time.Now()
		resp, err := c.Get(ctx, "/api/v1/me")
		if err != nil || resp.Status != http.StatusOK {
			b.Fatalf("GET /me under flood: %v %v", resp, err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if failures.Load() > 0 {
		b.Fatalf("%d logins failed during the flood", failures.Load())
	}
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(float64(logins.Load())/elapsed.Seconds(), "logins/s")
	b.ReportMetric(pct(50), "get_p50_ms")
	b.ReportMetric(pct(99), "get_p99_ms")
}
