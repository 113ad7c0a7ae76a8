package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

func msDur(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	t.Parallel()
	oneTo := func(n int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = msDur(i + 1)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p0", oneTo(1), 0, msDur(1)},
		{"one sample p99", oneTo(1), 99, msDur(1)},
		{"100 p0", oneTo(100), 0, msDur(1)},
		{"100 p50", oneTo(100), 50, msDur(50)},
		{"100 p95", oneTo(100), 95, msDur(95)},
		{"100 p99", oneTo(100), 99, msDur(99)},
		{"100 p100", oneTo(100), 100, msDur(100)},
		{"10 p50", oneTo(10), 50, msDur(5)},
		{"10 p95 rounds up", oneTo(10), 95, msDur(10)},
		{"10 p91 rounds up", oneTo(10), 91, msDur(10)},
		{"10 p90 exact", oneTo(10), 90, msDur(9)},
		{"3 p50", oneTo(3), 50, msDur(2)},
		{"out of range high", oneTo(10), 150, msDur(10)},
		{"out of range low", oneTo(10), -5, msDur(1)},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p%d) = %s, want %s", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeMergesWorkers(t *testing.T) {
	t.Parallel()
	a, b := newWorkerStats(3), newWorkerStats(100)
	// a keeps only its first three latencies, but its max counts.
	for _, l := range []int{4, 1, 3, 50} {
		a.observe(msDur(l), http.StatusCreated, "")
	}
	b.observe(msDur(2), http.StatusUnprocessableEntity, benchCodeInsufficient)
	b.observe(msDur(5), http.StatusServiceUnavailable, "")
	b.observe(msDur(6), http.StatusCreated, "")
	b.retries, b.transportErrors = 1, 2
	for _, r := range []transferResult{
		{Status: 201}, {Status: 201}, {Status: 201}, {Status: 201},
	} {
		a.finish(r)
	}
	for _, r := range []transferResult{
		{Status: 422, Problem: benchCodeInsufficient},
		{Status: 201},
		{Status: 0},
		{Status: 409, Problem: benchCodeInFlight},
		{Status: 422, Problem: "idempotency_key_reused"},
	} {
		b.finish(r)
	}
	s := summarize([]*workerStats{a, b}, 2*time.Second)
	if s.Acked != 5 || s.Insufficient != 1 || s.Unresolved != 2 || s.Unexpected != 1 {
		t.Errorf("acked/insufficient/unresolved/unexpected = %d/%d/%d/%d, want 5/1/2/1", s.Acked, s.Insufficient, s.Unresolved, s.Unexpected)
	}
	if s.Requests != 7 || s.Samples != 6 || s.Retries != 1 || s.TransportErrors != 2 {
		t.Errorf("requests/samples/retries/transport = %d/%d/%d/%d, want 7/6/1/2", s.Requests, s.Samples, s.Retries, s.TransportErrors)
	}
	// Kept samples sorted: 1 2 3 4 5 6.
	if s.P50 != msDur(3) || s.P95 != msDur(6) || s.P99 != msDur(6) || s.Max != msDur(50) {
		t.Errorf("p50/p95/p99/max = %s/%s/%s/%s, want 3ms/6ms/6ms/50ms", s.P50, s.P95, s.P99, s.Max)
	}
	if s.ByStatus[201] != 5 || s.ByStatus[422] != 1 || s.ByStatus[503] != 1 || len(s.ByStatus) != 3 {
		t.Errorf("by status = %v", s.ByStatus)
	}
	if s.ByProblem[benchCodeInsufficient] != 1 || len(s.ByProblem) != 1 {
		t.Errorf("by problem = %v", s.ByProblem)
	}
	if got := s.throughput(); got != 2.5 {
		t.Errorf("throughput = %v, want 2.5", got)
	}
	f := strings.Join(s.failures(), "; ")
	for _, want := range []string{"1 server errors", "2 transfers without a definite answer", "1 transfers refused unexpectedly"} {
		if !strings.Contains(f, want) {
			t.Errorf("failures %q lack %q", f, want)
		}
	}
	var out bytes.Buffer
	s.write(&out)
	for _, want := range []string{"transfers acknowledged: 5 in 2s (2.5/s)", "p50 3.00ms", "max 50.00ms", "percentiles over the first 6",
		"status: 201=5 422=1 503=1 transport-error=2", "problems: insufficient_funds=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchFailures(t *testing.T) {
	t.Parallel()
	clean := benchSummary{Acked: 10, Insufficient: 2, ByStatus: map[int]int64{201: 10, 422: 2, 409: 1}, ByProblem: map[string]int64{benchCodeInsufficient: 2, benchCodeInFlight: 1}}
	if f := clean.failures(); len(f) != 0 {
		t.Errorf("clean run fails: %v", f)
	}
	idle := benchSummary{ByStatus: map[int]int64{}, ByProblem: map[string]int64{}}
	if f := idle.failures(); len(f) != 1 || !strings.Contains(f[0], "no transfer") {
		t.Errorf("a run with no transfer: %v", f)
	}
	retried := clean
	retried.ByStatus = map[int]int64{201: 10, 502: 1}
	if f := retried.failures(); len(f) != 1 || !strings.Contains(f[0], "5xx") {
		t.Errorf("a 5xx that a retry fixed: %v", f)
	}
}

func TestCheckBenchURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw    string
		remote bool
		want   string // "" when refused
	}{
		{"http://127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", false, "http://127.0.0.1:8080"},
		{"http://127.3.4.5:1", false, "http://127.3.4.5:1"},
		{"https://localhost:8443/fiscus/", false, "https://localhost:8443/fiscus"},
		{"http://LOCALHOST", false, "http://LOCALHOST"},
		{"http://[::1]:8080", false, "http://[::1]:8080"},
		{"http://10.0.0.1:8080", false, ""},
		{"http://example.com", false, ""},
		{"http://localhost.example.com", false, ""},
		{"http://127.0.0.1.nip.io", false, ""},
		{"http://[::2]:8080", false, ""},
		{"http://example.com", true, "http://example.com"},
		{"https://10.0.0.1:8443", true, "https://10.0.0.1:8443"},
		{"ftp://127.0.0.1", true, ""},
		{"127.0.0.1:8080", true, ""},
		{"http://user:pw@127.0.0.1", false, ""},
		{"http://127.0.0.1/?x=1", false, ""},
		{"http://", true, ""},
		{"http://127.0.0.1:8080/%zz", false, ""},
	} {
		got, err := checkBenchURL(tc.raw, tc.remote)
		if tc.want == "" {
			if err == nil {
				t.Errorf("checkBenchURL(%q, %v) = %q, want refused", tc.raw, tc.remote, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("checkBenchURL(%q, %v) = %q, %v; want %q", tc.raw, tc.remote, got, err, tc.want)
		}
	}
}

func TestParseBenchFlags(t *testing.T) {
	t.Parallel()
	o, err := parseBenchFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "http://127.0.0.1:8080" || o.Accounts != 20 || o.Clients != 32 || o.Duration != 10*time.Second ||
		o.AmountMax != 1000 || o.Fund != 100_000_000 || !o.Verify || o.AllowRemote || o.AdminEmail != "admin@fintrade.com" {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseBenchFlags([]string{"--url", "http://bench.internal:9000", "--allow-remote", "--accounts", "5",
		"--clients", "4", "--duration", "2s", "--verify=false", "--seed", "7", "--out", "x.jsonl"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "http://bench.internal:9000" || o.Accounts != 5 || o.Clients != 4 || o.Duration != 2*time.Second ||
		o.Verify || o.Seed != 7 || o.Out != "x.jsonl" {
		t.Errorf("parsed: %+v", o)
	}
	for _, args := range [][]string{
		{"--url", "http://10.1.2.3:8080"},
		{"--accounts", "1"},
		{"--clients", "0"},
		{"--duration", "0s"},
		{"--amount-max", "0"},
		{"--fund", "-1"},
		{"--accounts", "10", "--fund", "1000000000000000000"},
		{"--admin-email", ""},
		{"extra"},
	} {
		_, err := parseBenchFlags(args, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("parseBenchFlags(%v) = %v, want a usage error", args, err)
		}
	}
}

func TestSumMinor(t *testing.T) {
	t.Parallel()
	if s, err := sumMinor([]int64{5, -3, 10}); err != nil || s != 12 {
		t.Errorf("sum = %d, %v", s, err)
	}
	if _, err := sumMinor([]int64{1 << 62, 1 << 62}); err == nil {
		t.Error("overflow not refused")
	}
	if _, err := sumMinor([]int64{-1 << 62, -1 << 62, -1}); err == nil {
		t.Error("negative overflow not refused")
	}
}

// sendTransfer retries a 5xx and idempotency_key_in_flight with the same key
// and the same bytes, and stops at the first definite answer.
func TestSendTransferRetriesSameKeyAndBody(t *testing.T) {
	t.Parallel()
	type seen struct{ key, body string }
	var mu sync.Mutex
	var reqs []seen
	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"status":409,"code":"idempotency_key_in_flight"}`)
		},
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"trf_1","status":"executed","amount":42}`)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		answer := answers[min(len(reqs), len(answers)-1)]
		reqs = append(reqs, seen{r.Header.Get("Idempotency-Key"), string(body)})
		mu.Unlock()
		if r.URL.Path != "/api/v1/transfers" || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		answer(w)
	}))
	defer srv.Close()
	c, err := newBenchConn(srv.URL, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws := newWorkerStats(10)
	r := transferResult{Key: "k-1", Body: []byte(`{"kind":"cash","amount":42}`), Amount: 42}
	sendTransfer(context.Background(), c, "tok", &r, ws)
	got := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), reqs...)
	}
	if r.Status != http.StatusCreated || r.TransferID != "trf_1" || r.Attempts != 3 || !r.acked() {
		t.Fatalf("result %+v", r)
	}
	sent := got()
	if len(sent) != 3 {
		t.Fatalf("%d requests, want 3", len(sent))
	}
	for _, s := range sent {
		if s.key != "k-1" || s.body != string(r.Body) {
			t.Errorf("request %+v, want key k-1 and body %s", s, r.Body)
		}
	}
	if ws.retries != 2 || ws.byStatus[503] != 1 || ws.byStatus[409] != 1 || ws.byStatus[201] != 1 {
		t.Errorf("stats: retries %d, by status %v", ws.retries, ws.byStatus)
	}

	// A definite refusal is not retried.
	mu.Lock()
	reqs = nil
	answers = answers[:0]
	answers = append(answers, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"status":422,"code":"insufficient_funds"}`)
	})
	mu.Unlock()
	r = transferResult{Key: "k-2", Body: []byte(`{}`)}
	sendTransfer(context.Background(), c, "tok", &r, nil)
	if n := len(got()); r.Status != 422 || r.Problem != benchCodeInsufficient || r.Attempts != 1 || n != 1 {
		t.Errorf("refusal: %+v after %d requests", r, n)
	}
}

// verifyBench reports a clean ledger and conserved money as such, and fails
// on a ledger violation or on money that appeared out of nowhere.
func TestVerifyBench(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		ledgerOK bool
		balances []int64
		want     []string // substrings of the failures; none when clean
	}{
		{"clean", true, []int64{150, 50, 100}, nil},
		{"money created", true, []int64{150, 51, 100}, []string{"conservation: the accounts hold 301, want 300"}},
		{"ledger violation", false, []int64{100, 100, 100}, []string{"ledger verify: 1 violation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == http.MethodPost && r.URL.Path == "/api/v1/admin/ledger/verify":
					rep := client.LedgerReport{OK: tc.ledgerOK, Accounts: 3}
					if !tc.ledgerOK {
						rep.Violations = []client.LedgerViolation{{Rule: "cached_balance", AccountID: "acct_1", Detail: "off by one"}}
					}
					_ = json.NewEncoder(w).Encode(rep)
				case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/accounts/acct_"):
					i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/v1/accounts/acct_"))
					_ = json.NewEncoder(w).Encode(client.Account{ID: "acct_" + strconv.Itoa(i), Balance: tc.balances[i]})
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			hc := newBenchHTTP(2)
			s := &benchSetup{Admin: client.NewWithHTTP(srv.URL, hc)}
			for i := range tc.balances {
				s.Accounts = append(s.Accounts, benchAccount{ID: "acct_" + strconv.Itoa(i), Client: client.NewWithHTTP(srv.URL, hc)})
			}
			var out bytes.Buffer
			failures := verifyBench(context.Background(), s, 100, &out)
			if len(failures) != len(tc.want) {
				t.Fatalf("failures %q, want %d\n%s", failures, len(tc.want), out.String())
			}
			for i, w := range tc.want {
				if !strings.Contains(failures[i], w) {
					t.Errorf("failure %q lacks %q", failures[i], w)
				}
			}
			if len(tc.want) == 0 && (!strings.Contains(out.String(), "ledger verify: ok") || !strings.Contains(out.String(), "conservation: ok")) {
				t.Errorf("clean output:\n%s", out.String())
			}
			if !tc.ledgerOK && !strings.Contains(out.String(), "VIOLATION cached_balance account=acct_1: off by one") {
				t.Errorf("violation not printed:\n%s", out.String())
			}
		})
	}
}

// --- the real binary ------------------------------------------------------

// fiscusServer is the real binary serving on a free port of 127.0.0.1.
type fiscusServer struct {
	URL    string
	Env    []string
	cmd    *exec.Cmd
	done   chan error // the process's exit, once
	logs   *serverLog
	exited bool
}

// serverEnv is the environment of a dev-mode server with the demo admin on a
// fresh database of engine e, with cheap password hashing and no sign-in
// rate limits (a load run signs in many customers from one address).
func serverEnv(t *testing.T, e store.Dialect) []string {
	t.Helper()
	return cleanEnv(
		"FISCUS_ENV=dev",
		"FISCUS_DATA_DIR="+t.TempDir(),
		"DATABASE_URL="+storetest.URL(t, e),
		"ADDR=127.0.0.1:0",
		"SEED_DEMO_DATA=true",
		"ARGON2_MEMORY_KIB=1024",
		"ARGON2_ITERATIONS=1",
		"AUTH_RATE_PER_MINUTE_IP=0",
		"AUTH_RATE_PER_MINUTE_ACCOUNT=0",
		// Load from a handful of accounts is exactly what the velocity
		// rules flag: keep them from sending it to review.
		"RISK_REVIEW_SCORE=1000000",
		"LOG_LEVEL=warn",
	)
}

// startFiscus starts "fiscus serve" with env and waits until it announces its
// address. The process is killed when the test ends; its logs are printed
// when the test failed.
func startFiscus(t *testing.T, env []string) *fiscusServer {
	t.Helper()
	s := &fiscusServer{Env: env, done: make(chan error, 1), logs: &serverLog{}}
	s.cmd = exec.Command(binary(t), "serve")
	s.cmd.Env = env
	announce := &announceWriter{ch: make(chan string, 1)}
	s.cmd.Stdout = announce
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if !s.exited {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if logs := s.logs.String(); t.Failed() && logs != "" {
			t.Logf("server %s log:\n%s", s.URL, logs)
		}
	})
	select {
	case s.URL = <-announce.ch:
	case err := <-s.done:
		s.exited = true
		t.Fatalf("server exited before serving: %v\n%s", err, s.logs.String())
	}
	return s
}

// kill ends the server with SIGKILL: no graceful shutdown, no flush.
func (s *fiscusServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.exited = true
}

// stop ends the server with SIGTERM and requires a clean exit.
func (s *fiscusServer) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-s.done
	s.exited = true
	if err != nil {
		t.Fatalf("server exit after SIGTERM: %v", err)
	}
}

// announceWriter passes on the URL of the server's "listening on" line.
type announceWriter struct {
	mu   sync.Mutex
	buf  []byte
	ch   chan string
	sent bool
}

func (w *announceWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		w.buf = append(w.buf, p...)
		if m := listenLine.FindSubmatch(w.buf); m != nil {
			w.ch <- string(m[1])
			w.sent, w.buf = true, nil
		}
	}
	return len(p), nil
}

type serverLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *serverLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *serverLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var (
	benchAckedLine = regexp.MustCompile(`(?m)^transfers acknowledged: (\d+) in `)
	benchStatusOK  = regexp.MustCompile(`(?m)^status: 201=(\d+)`)
)

// "fiscus bench" against the real binary: it sets up customers, moves money
// among them, and reports transfers, a clean ledger and conserved money; its
// --out file lists exactly the acknowledged transfers.
func TestBenchCommand(t *testing.T) {
	t.Parallel()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			srv := startFiscus(t, serverEnv(t, e))
			outFile := filepath.Join(t.TempDir(), "acks.jsonl")
			cmd := exec.Command(binary(t), "bench", "--url", srv.URL, "--accounts", "5", "--clients", "4",
				"--duration", "2s", "--out", outFile)
			cmd.Env = cleanEnv()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("fiscus bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			out := stdout.String()
			t.Logf("fiscus bench (%s):\n%s", e, out)
			m := benchAckedLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no acknowledged count in the output:\n%s", out)
			}
			acked, _ := strconv.Atoi(m[1])
			if acked == 0 {
				t.Fatalf("no transfer acknowledged:\n%s", out)
			}
			if m := benchStatusOK.FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(acked) {
				t.Errorf("201 count %v differs from acknowledged %d", m, acked)
			}
			for _, want := range []string{"setup: 5 customers", "ledger verify: ok", "conservation: ok, 5 accounts hold 500000000 = 5 × 100000000"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			f, err := os.Open(outFile)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ids, keys := map[string]bool{}, map[string]bool{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var l benchOutLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("--out line %q: %v", sc.Text(), err)
				}
				if !strings.HasPrefix(l.ID, "trf_") || l.IdempotencyKey == "" || l.Status != http.StatusCreated ||
					l.Amount < 1 || l.Amount > 1000 || l.FromAccountID == l.ToAccountID || ids[l.ID] || keys[l.IdempotencyKey] {
					t.Errorf("--out line %q: malformed or repeated", sc.Text())
				}
				ids[l.ID], keys[l.IdempotencyKey] = true, true
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if len(ids) != acked {
				t.Errorf("--out has %d transfers, the report %d", len(ids), acked)
			}
		})
	}
}

// The bench refuses a remote URL before sending anything.
func TestBenchRefusesRemoteURL(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"bench", "--url", "http://192.0.2.1:8080"}, func(string) string { return "" }, &out, &errOut)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "--allow-remote") {
		t.Fatalf("err = %v, want a usage error naming --allow-remote", err)
	}
}
