package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiscus/fiscus/internal/client"
)

// Limits of the load tool.
const (
	benchMaxAccounts      = 10_000
	benchMaxClients       = 4_096
	benchMaxDuration      = 24 * time.Hour
	benchMaxSetupClients  = 64
	benchSetupAttempts    = 8                     // attempts of one setup request
	benchMaxRateLimitWait = 60 * time.Second      // longest Retry-After honoured during setup
	benchTransferAttempts = 6                     // attempts of one transfer, same key and body
	benchRetryBackoff     = 20 * time.Millisecond // first retry delay, doubled per attempt
	benchMaxRetryBackoff  = time.Second           // longest retry delay
	benchRequestTimeout   = 30 * time.Second      // one HTTP request, connection to last byte
	benchDialTimeout      = 5 * time.Second       // one TCP connection
	benchMaxLatencies     = 1 << 22               // latency samples kept for percentiles (32 MiB)
	benchCurrency         = "USD"                 // the only currency the tool moves
	benchCodeInsufficient = "insufficient_funds"  // the one refusal the load expects
	benchCodeInFlight     = "idempotency_key_in_flight"
	benchCodeEmailTaken   = "email_taken"
	benchReplayedHeader   = "Idempotent-Replayed" // "true" on a stored response
)

// benchOptions is the command line of "fiscus bench". Amounts are in minor
// units of USD.
type benchOptions struct {
	URL           string
	AdminEmail    string
	AdminPassword string
	Accounts      int
	Clients       int
	SetupClients  int
	Duration      time.Duration
	AmountMax     int64
	Fund          int64
	Seed          uint64
	Out           string
	Verify        bool
	AllowRemote   bool
}

const benchUsage = "usage: fiscus bench [flags]"

func parseBenchFlags(args []string, stderr io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage+"\n\nDrives transfer load against a running Fiscus over HTTP, then verifies the ledger.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the server (loopback only unless --allow-remote)")
	fs.StringVar(&o.AdminEmail, "admin-email", "admin@fintrade.com", "email of an admin without 2FA (funds the accounts, verifies the ledger)")
	fs.StringVar(&o.AdminPassword, "admin-password", "admin123", "password of that admin")
	fs.IntVar(&o.Accounts, "accounts", 20, "customers to register, one funded USD checking account each")
	fs.IntVar(&o.Clients, "clients", 32, "concurrent clients posting transfers")
	fs.IntVar(&o.SetupClients, "setup-clients", 4, "concurrent registrations during setup (each hashes a password)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long the clients post transfers")
	fs.Int64Var(&o.AmountMax, "amount-max", 1000, "largest transfer, minor units (each is uniform in 1..amount-max)")
	fs.Int64Var(&o.Fund, "fund", 100_000_000, "initial balance of each account, minor units")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the random choices of accounts and amounts (0: random, printed)")
	fs.StringVar(&o.Out, "out", "", "file to write one JSON line per acknowledged transfer (id, idempotency key, status)")
	fs.BoolVar(&o.Verify, "verify", true, "verify the ledger and money conservation after the load")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a URL that is not a loopback address")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, usageError{benchUsage}
	}
	var problems []string
	check := func(ok bool, msg string) {
		if !ok {
			problems = append(problems, msg)
		}
	}
	check(o.Accounts >= 2 && o.Accounts <= benchMaxAccounts, fmt.Sprintf("--accounts must be 2 … %d", benchMaxAccounts))
	check(o.Clients >= 1 && o.Clients <= benchMaxClients, fmt.Sprintf("--clients must be 1 … %d", benchMaxClients))
	check(o.SetupClients >= 1 && o.SetupClients <= benchMaxSetupClients, fmt.Sprintf("--setup-clients must be 1 … %d", benchMaxSetupClients))
	check(o.Duration > 0 && o.Duration <= benchMaxDuration, "--duration must be positive and at most "+benchMaxDuration.String())
	check(o.AmountMax >= 1, "--amount-max must be at least 1")
	check(o.Fund >= 1, "--fund must be at least 1")
	if o.Accounts >= 1 && o.Fund >= 1 {
		check(o.Fund <= math.MaxInt64/int64(o.Accounts), "--accounts × --fund overflows 64-bit minor units")
	}
	check(o.AdminEmail != "" && o.AdminPassword != "", "--admin-email and --admin-password are required")
	if len(problems) > 0 {
		return o, usageError{strings.Join(problems, "\n") + "\n" + benchUsage}
	}
	base, err := checkBenchURL(o.URL, o.AllowRemote)
	if err != nil {
		return o, usageError{err.Error()}
	}
	o.URL = base
	return o, nil
}

// checkBenchURL validates the server's base URL and returns it without a
// trailing slash. Load is refused against anything but a loopback address
// unless allowRemote: a mistyped URL must not flood someone's server.
func checkBenchURL(raw string, allowRemote bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("--url %q: the scheme must be http or https", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--url %q: want scheme://host[:port][/path], without credentials, query or fragment", raw)
	}
	if !allowRemote {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("--url %q is not a loopback address; pass --allow-remote to load a remote server", raw)
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// runBench implements "fiscus bench".
func runBench(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.Seed == 0 {
		o.Seed = randomSeed()
	}
	var out *benchOut
	if o.Out != "" {
		if out, err = createBenchOut(o.Out); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "fiscus bench: %s, %d accounts, %d clients, %s, amounts 1..%d, fund %d, seed %d\n",
		o.URL, o.Accounts, o.Clients, o.Duration, o.AmountMax, o.Fund, o.Seed)
	hc := newBenchHTTP(o.SetupClients) // setup and checks; the load has connections of its own
	defer hc.CloseIdleConnections()

	t0 := time.Now()
	s, err := setupBench(ctx, hc, o, stderr)
	if err != nil {
		if out != nil {
			_ = out.close() // the setup error is the one to report
		}
		return fmt.Errorf("setup: %w", err)
	}
	fmt.Fprintf(stdout, "setup: %d customers registered, signed in, one funded account each in %s",
		len(s.Accounts), time.Since(t0).Round(time.Millisecond))
	if s.RateLimited > 0 {
		fmt.Fprintf(stdout, " (%d requests rate-limited)", s.RateLimited)
	}
	fmt.Fprintln(stdout)

	spec := loadSpec{URL: o.URL, Accounts: s.Accounts, Clients: o.Clients, Duration: o.Duration, AmountMax: o.AmountMax,
		Seed: o.Seed, KeyPrefix: "bench-" + s.RunID}
	if out != nil {
		spec.OnResult = out.write
	}
	sum := runLoad(ctx, spec)
	sum.write(stdout)
	var failures []string
	if out != nil {
		if err := out.close(); err != nil {
			failures = append(failures, err.Error())
		}
	}
	failures = append(failures, sum.failures()...)

	if o.Verify {
		// A cancelled run (^C) still verifies what it did.
		vctx := context.WithoutCancel(ctx)
		failures = append(failures, verifyBench(vctx, s, o.Fund, stdout)...)
	}
	if len(failures) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failures, "; "))
	}
	return ctx.Err()
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand panics instead)
	var s uint64
	for _, x := range b {
		s = s<<8 | uint64(x)
	}
	return s | 1 // never 0, which means "random"
}

// newBenchHTTP is one client and transport shared by every simulated user,
// keeping up to conns connections open so requests reuse them.
func newBenchHTTP(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: benchDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   benchDialTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: benchRequestTimeout}
}

// benchAccount is one customer of the run and its funded account.
type benchAccount struct {
	Email  string
	ID     string
	Client *client.Client // signed in as the account's owner
}

// benchSetup is what the load needs: signed-in owners of funded accounts.
type benchSetup struct {
	RunID       string // random; part of every email and idempotency key of the run
	Admin       *client.Client
	Accounts    []benchAccount
	RateLimited int64 // setup requests answered 429
}

// setupBench signs in as the admin and registers, signs in, opens and funds
// o.Accounts customers, o.SetupClients at a time.
func setupBench(ctx context.Context, hc *http.Client, o benchOptions, progress io.Writer) (*benchSetup, error) {
	p := &setupProgress{w: progress}
	var rb [6]byte
	_, _ = crand.Read(rb[:])
	s := &benchSetup{RunID: hex.EncodeToString(rb[:]), Admin: client.NewWithHTTP(o.URL, hc), Accounts: make([]benchAccount, o.Accounts)}
	resp, err := setupCall(ctx, p, func() (*client.Response, error) {
		_, resp, err := s.Admin.Login(ctx, o.AdminEmail, o.AdminPassword)
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("admin sign-in: %w", err)
	}
	switch resp.Status {
	case http.StatusOK:
	case http.StatusAccepted:
		return nil, fmt.Errorf("admin sign-in as %s asks for a second factor: use an admin without 2FA", o.AdminEmail)
	default:
		return nil, fmt.Errorf("admin sign-in as %s: %s", o.AdminEmail, resp.Describe())
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(o.SetupClients, o.Accounts) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Accounts || ctx.Err() != nil {
					return
				}
				a, err := setupAccount(ctx, hc, s, i, o, p)
				if err != nil {
					cancel(fmt.Errorf("customer %d: %w", i, err))
					return
				}
				s.Accounts[i] = a
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	s.RateLimited = p.rateLimited.Load()
	return s, nil
}

// setupAccount registers customer i, signs them in, opens their USD
// checking account and funds it with an admin adjustment.
func setupAccount(ctx context.Context, hc *http.Client, s *benchSetup, i int, o benchOptions, p *setupProgress) (benchAccount, error) {
	a := benchAccount{Email: fmt.Sprintf("bench-%s-%d@example.com", s.RunID, i), Client: client.NewWithHTTP(o.URL, hc)}
	var pb [16]byte
	_, _ = crand.Read(pb[:])
	password := hex.EncodeToString(pb[:])
	resp, err := setupCall(ctx, p, func() (*client.Response, error) {
		return a.Client.Register(ctx, a.Email, password, fmt.Sprintf("Bench Customer %d", i))
	})
	// The email is unique to this run: email_taken means an earlier attempt
	// of this very call succeeded but its answer was lost.
	if err == nil && resp.Status != http.StatusCreated && !isProblem(resp, benchCodeEmailTaken) {
		err = fmt.Errorf("register: %s", resp.Describe())
	}
	if err != nil {
		return a, err
	}
	resp, err = setupCall(ctx, p, func() (*client.Response, error) {
		_, resp, err := a.Client.Login(ctx, a.Email, password)
		return resp, err
	})
	if err == nil && resp.Status != http.StatusOK {
		err = fmt.Errorf("sign-in: %s", resp.Describe())
	}
	if err != nil {
		return a, err
	}
	var acct client.Account
	resp, err = setupCall(ctx, p, func() (*client.Response, error) {
		var resp *client.Response
		var err error
		acct, resp, err = a.Client.OpenAccount(ctx, client.OpenAccount{Type: "checking", Name: "Bench", Currency: benchCurrency})
		return resp, err
	})
	if err == nil && resp.Status != http.StatusCreated {
		err = fmt.Errorf("open account: %s", resp.Describe())
	}
	if err != nil {
		return a, err
	}
	a.ID = acct.ID
	key := fmt.Sprintf("bench-%s-fund-%d", s.RunID, i)
	resp, err = setupCall(ctx, p, func() (*client.Response, error) {
		_, resp, err := s.Admin.Adjust(ctx, key, client.Adjustment{AccountID: a.ID, Amount: o.Fund, Currency: benchCurrency, Memo: "bench funding"})
		return resp, err
	})
	if err == nil && resp.Status != http.StatusCreated {
		err = fmt.Errorf("fund account %s: %s", a.ID, resp.Describe())
	}
	return a, err
}

func isProblem(r *client.Response, code string) bool {
	return r != nil && r.Problem != nil && r.Problem.Code == code
}

// setupProgress tells the user, once, why setup is slow when the server
// rate-limits it, and counts the 429s.
type setupProgress struct {
	w           io.Writer
	once        sync.Once
	rateLimited atomic.Int64
}

func (p *setupProgress) limited() {
	p.rateLimited.Add(1)
	p.once.Do(func() {
		fmt.Fprintln(p.w, "fiscus bench: the server rate-limits registrations and sign-ins; setup waits as Retry-After says "+
			"(serve with AUTH_RATE_PER_MINUTE_IP=0 AUTH_RATE_PER_MINUTE_ACCOUNT=0 to set up quickly)")
	})
}

// setupCall sends one setup request until it gets an answer other than a
// transport error, a 5xx, a 409 in flight (at most benchSetupAttempts of
// those) or a 429 (waiting as long as Retry-After says, at most
// benchMaxRateLimitWait in all).
func setupCall(ctx context.Context, p *setupProgress, send func() (*client.Response, error)) (*client.Response, error) {
	var waited time.Duration
	for failures := 0; ; {
		resp, err := send()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
			failures++
			if failures >= benchSetupAttempts {
				return nil, fmt.Errorf("%d attempts: %w", failures, err)
			}
		case resp.Status == http.StatusTooManyRequests:
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			wait := min(max(time.Duration(secs)*time.Second, time.Second), benchMaxRateLimitWait)
			if waited+wait > benchMaxRateLimitWait {
				return nil, fmt.Errorf("rate limited for more than %s: %s", benchMaxRateLimitWait, resp.Describe())
			}
			waited += wait
			p.limited()
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, err
			}
			continue
		case resp.Status >= 500 || isProblem(resp, benchCodeInFlight):
			failures++
			if failures >= benchSetupAttempts {
				return nil, fmt.Errorf("%d attempts, last: %s", failures, resp.Describe())
			}
		default:
			return resp, nil
		}
		if err := sleepCtx(ctx, retryDelay(failures-1)); err != nil {
			return nil, err
		}
	}
}

// retryDelay is the pause before retry number attempt+1: exponential, capped.
func retryDelay(attempt int) time.Duration {
	d := benchRetryBackoff << min(attempt, 16)
	return min(d, benchMaxRetryBackoff)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loadSpec describes one load run.
type loadSpec struct {
	URL       string // the server, as checkBenchURL gives it
	Accounts  []benchAccount
	Clients   int
	Duration  time.Duration // clients start no transfer after this
	AmountMax int64         // minor units; amounts are uniform in 1..AmountMax
	Seed      uint64
	KeyPrefix string // idempotency keys are KeyPrefix-client-n
	// OnResult, when set, sees every transfer's outcome; it is called from
	// the clients concurrently.
	OnResult func(transferResult)
}

// transferResult is the outcome of one transfer after its retries.
type transferResult struct {
	Key        string
	Body       []byte // the exact request body every attempt sent
	From, To   int    // indexes into loadSpec.Accounts
	Amount     int64  // minor units
	Status     int    // of the last answer; 0 when the last attempt got none
	TransferID string // on a 2xx
	Problem    string // problem code of the last answer, if any
	Err        error  // the last transport error when Status is 0
	Attempts   int
	// Replayed is set when the last answer was the stored response of an
	// earlier attempt that had applied (its answer lost on the way back).
	Replayed bool
}

// acked reports whether the server acknowledged the transfer.
func (r transferResult) acked() bool { return r.Status >= 200 && r.Status < 300 }

// runLoad runs spec.Clients clients posting random transfers among
// spec.Accounts until spec.Duration has passed or ctx ends, and summarizes.
func runLoad(ctx context.Context, spec loadSpec) benchSummary {
	stats := make([]*workerStats, spec.Clients)
	perWorker := max(1, benchMaxLatencies/spec.Clients)
	start := time.Now()
	deadline := start.Add(spec.Duration)
	var wg sync.WaitGroup
	for w := range spec.Clients {
		ws := newWorkerStats(perWorker)
		stats[w] = ws
		rng := rand.New(rand.NewPCG(spec.Seed, uint64(w)))
		conn, err := newBenchConn(spec.URL, benchRequestTimeout)
		if err != nil {
			panic(err) // spec.URL passed checkBenchURL
		}
		wg.Go(func() {
			defer conn.Close()
			for n := 0; ctx.Err() == nil && time.Now().Before(deadline); n++ {
				from := rng.IntN(len(spec.Accounts))
				to := rng.IntN(len(spec.Accounts) - 1)
				if to >= from {
					to++
				}
				amount := 1 + rng.Int64N(spec.AmountMax)
				body, err := json.Marshal(client.CashTransfer{Kind: "cash", FromAccountID: spec.Accounts[from].ID,
					ToAccountID: spec.Accounts[to].ID, Amount: amount, Currency: benchCurrency, Memo: "bench"})
				if err != nil {
					panic(err) // a struct of strings and integers always marshals
				}
				r := transferResult{Key: fmt.Sprintf("%s-%d-%d", spec.KeyPrefix, w, n), Body: body, From: from, To: to, Amount: amount}
				sendTransfer(ctx, conn, spec.Accounts[from].Client.Token, &r, ws)
				ws.finish(r)
				if spec.OnResult != nil {
					spec.OnResult(r)
				}
			}
		})
	}
	wg.Wait()
	return summarize(stats, time.Since(start))
}

// sendTransfer posts r on c as the holder of token until it gets a definite
// answer, retrying the same key and body after a transport error, a 5xx or
// idempotency_key_in_flight, at most benchTransferAttempts times. ws, when
// set, records each answer.
func sendTransfer(ctx context.Context, c *benchConn, token string, r *transferResult, ws *workerStats) {
	for attempt := range benchTransferAttempts {
		if attempt > 0 {
			if ws != nil {
				ws.retries++
			}
			if sleepCtx(ctx, retryDelay(attempt-1)) != nil {
				return
			}
		}
		r.Attempts++
		t0 := time.Now()
		resp, err := c.post(ctx, "/api/v1/transfers", token, r.Key, r.Body)
		lat := time.Since(t0)
		if err != nil && resp == nil {
			r.Status, r.Problem, r.Err = 0, "", err
			if ws != nil {
				ws.transportErrors++
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		r.Status, r.Err, r.Problem = resp.Status, err, ""
		if resp.Problem != nil {
			r.Problem = resp.Problem.Code
		}
		r.TransferID = ""
		if err == nil && (resp.Status == http.StatusCreated || resp.Status == http.StatusAccepted) {
			var tr struct {
				ID string `json:"id"`
			}
			if derr := json.Unmarshal(resp.Body, &tr); derr != nil {
				r.Err = fmt.Errorf("decode %d response: %w", resp.Status, derr)
			}
			r.TransferID = tr.ID
		}
		r.Replayed = resp.Header.Get(benchReplayedHeader) == "true"
		if ws != nil {
			ws.observe(lat, resp.Status, r.Problem)
		}
		if resp.Status < 500 && r.Problem != benchCodeInFlight {
			return
		}
	}
}

// workerStats is what one client saw; only its goroutine touches it.
type workerStats struct {
	latencies       []time.Duration // of answered requests, the first maxSamples
	maxSamples      int
	max             time.Duration // over every answered request, kept or not
	requests        int64         // answered requests
	byStatus        map[int]int64
	byProblem       map[string]int64
	acked           int64 // transfers answered 2xx
	replayed        int64 // of which the answer was a replay of a lost one
	insufficient    int64 // transfers refused for insufficient funds
	unexpected      int64 // transfers refused for any other reason
	unresolved      int64 // transfers left without a definite answer
	retries         int64
	transportErrors int64
}

func newWorkerStats(maxSamples int) *workerStats {
	return &workerStats{maxSamples: maxSamples, byStatus: map[int]int64{}, byProblem: map[string]int64{}}
}

// observe records one answered request.
func (w *workerStats) observe(lat time.Duration, status int, problem string) {
	w.requests++
	if len(w.latencies) < w.maxSamples {
		w.latencies = append(w.latencies, lat)
	}
	w.max = max(w.max, lat)
	w.byStatus[status]++
	if problem != "" {
		w.byProblem[problem]++
	}
}

// finish records one transfer's final outcome.
func (w *workerStats) finish(r transferResult) {
	switch {
	case r.acked():
		w.acked++
		if r.Replayed {
			w.replayed++
		}
	case r.Status == 0 || r.Status >= 500 || r.Problem == benchCodeInFlight:
		w.unresolved++
	case r.Problem == benchCodeInsufficient:
		w.insufficient++
	default:
		w.unexpected++
	}
}

// benchSummary aggregates every client's stats.
type benchSummary struct {
	Elapsed         time.Duration
	Acked           int64
	Replayed        int64
	Insufficient    int64
	Unexpected      int64
	Unresolved      int64
	Requests        int64
	Retries         int64
	TransportErrors int64
	ByStatus        map[int]int64
	ByProblem       map[string]int64
	Samples         int // latencies behind the percentiles
	P50, P95, P99   time.Duration
	Max             time.Duration
}

func summarize(ws []*workerStats, elapsed time.Duration) benchSummary {
	s := benchSummary{Elapsed: elapsed, ByStatus: map[int]int64{}, ByProblem: map[string]int64{}}
	var lat []time.Duration
	for _, w := range ws {
		s.Acked += w.acked
		s.Replayed += w.replayed
		s.Insufficient += w.insufficient
		s.Unexpected += w.unexpected
		s.Unresolved += w.unresolved
		s.Requests += w.requests
		s.Retries += w.retries
		s.TransportErrors += w.transportErrors
		s.Max = max(s.Max, w.max)
		for k, v := range w.byStatus {
			s.ByStatus[k] += v
		}
		for k, v := range w.byProblem {
			s.ByProblem[k] += v
		}
		lat = append(lat, w.latencies...)
	}
	slices.Sort(lat)
	s.Samples = len(lat)
	s.P50, s.P95, s.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	return s
}

// percentile is the nearest-rank p-th percentile (0 ≤ p ≤ 100) of sorted: the
// smallest sample with at least p% of the samples at or below it; 0 when
// there are none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	p = min(max(p, 0), 100)
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n), 1-based
	return sorted[max(rank, 1)-1]
}

// throughput is acknowledged transfers per second of the measured window.
func (s benchSummary) throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Acked) / s.Elapsed.Seconds()
}

func (s benchSummary) write(w io.Writer) {
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + "ms"
	}
	fmt.Fprintf(w, "transfers acknowledged: %d in %s (%.1f/s)\n", s.Acked, s.Elapsed.Round(time.Millisecond), s.throughput())
	fmt.Fprintf(w, "latency: p50 %s  p95 %s  p99 %s  max %s  (%d requests", ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max), s.Requests)
	if int64(s.Samples) < s.Requests {
		fmt.Fprintf(w, ", percentiles over the first %d", s.Samples)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "status:%s", formatCounts(s.ByStatus, strconv.Itoa))
	if s.TransportErrors > 0 {
		fmt.Fprintf(w, " transport-error=%d", s.TransportErrors)
	}
	fmt.Fprintln(w)
	if len(s.ByProblem) > 0 {
		fmt.Fprintf(w, "problems:%s\n", formatCounts(s.ByProblem, func(k string) string { return k }))
	}
	fmt.Fprintf(w, "transfers: %d acknowledged (%d on a retry's replay), %d insufficient funds, %d refused otherwise, %d unresolved; %d retries\n",
		s.Acked, s.Replayed, s.Insufficient, s.Unexpected, s.Unresolved, s.Retries)
}

// formatCounts renders " key=count" pairs in key order.
func formatCounts[K int | string](m map[K]int64, name func(K) string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%d", name(k), m[k])
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// failures lists what makes the load part of a run fail: any 5xx (even if a
// retry then succeeded), any transfer left without a definite answer or
// refused for a reason other than insufficient funds, and a run that moved
// nothing.
func (s benchSummary) failures() []string {
	var f []string
	var fivexx int64
	for st, n := range s.ByStatus {
		if st >= 500 {
			fivexx += n
		}
	}
	if fivexx > 0 {
		f = append(f, fmt.Sprintf("%d server errors (5xx)", fivexx))
	}
	if s.Unresolved > 0 {
		f = append(f, fmt.Sprintf("%d transfers without a definite answer", s.Unresolved))
	}
	if s.Unexpected > 0 {
		f = append(f, fmt.Sprintf("%d transfers refused unexpectedly (see status and problems)", s.Unexpected))
	}
	if s.Acked == 0 {
		f = append(f, "no transfer was acknowledged")
	}
	return f
}

// verifyBench asks the server to verify the ledger and checks that the run's
// accounts still hold exactly what they were funded with in total (transfers
// only move money among them). It prints both and returns the failures.
func verifyBench(ctx context.Context, s *benchSetup, fund int64, w io.Writer) []string {
	var failures []string
	rep, resp, err := s.Admin.VerifyLedger(ctx)
	switch {
	case err != nil:
		failures = append(failures, "ledger verify: "+err.Error())
	case resp.Status != http.StatusOK:
		failures = append(failures, "ledger verify: "+resp.Describe())
	default:
		verdict := "ok"
		if !rep.OK {
			verdict = "FAILED"
			failures = append(failures, fmt.Sprintf("ledger verify: %d violation(s)", len(rep.Violations)+rep.Truncated))
		}
		fmt.Fprintf(w, "ledger verify: %s (%d accounts, %d balances, %d entries, %d postings, %d holds)\n",
			verdict, rep.Accounts, rep.Balances, rep.Entries, rep.Postings, rep.Holds)
		for _, v := range rep.Violations {
			fmt.Fprintln(w, "  VIOLATION", v.String())
		}
		if rep.Truncated > 0 {
			fmt.Fprintf(w, "  ... and %d more violations\n", rep.Truncated)
		}
	}
	balances := make([]int64, len(s.Accounts))
	for i, a := range s.Accounts {
		acct, resp, err := a.Client.Account(ctx, a.ID)
		if err == nil && resp.Status != http.StatusOK {
			err = errors.New(resp.Describe())
		}
		if err != nil {
			return append(failures, fmt.Sprintf("conservation: read account %s: %v", a.ID, err))
		}
		balances[i] = acct.Balance
	}
	want := fund * int64(len(s.Accounts)) // parseBenchFlags refused an overflow
	got, err := sumMinor(balances)
	switch {
	case err != nil:
		failures = append(failures, "conservation: "+err.Error())
	case got != want:
		failures = append(failures, fmt.Sprintf("conservation: the accounts hold %d, want %d", got, want))
		fmt.Fprintf(w, "conservation: FAILED, %d accounts hold %d, want %d × %d = %d\n", len(balances), got, len(balances), fund, want)
	default:
		fmt.Fprintf(w, "conservation: ok, %d accounts hold %d = %d × %d\n", len(balances), got, len(balances), fund)
	}
	return failures
}

// sumMinor adds amounts in minor units, refusing to overflow.
func sumMinor(xs []int64) (int64, error) {
	var s int64
	for _, x := range xs {
		if (x > 0 && s > math.MaxInt64-x) || (x < 0 && s < math.MinInt64-x) {
			return 0, errors.New("sum of balances overflows 64 bits")
		}
		s += x
	}
	return s, nil
}

// benchOut writes one JSON line per acknowledged transfer.
type benchOut struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error // the first write error; later lines are dropped
}

type benchOutLine struct {
	ID             string `json:"id"`
	IdempotencyKey string `json:"idempotency_key"`
	Status         int    `json:"status"`
	FromAccountID  string `json:"from_account_id"`
	ToAccountID    string `json:"to_account_id"`
	Amount         int64  `json:"amount"` // minor units
}

func createBenchOut(path string) (*benchOut, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	return &benchOut{f: f, w: bufio.NewWriter(f)}, nil
}

func (o *benchOut) write(r transferResult) {
	if !r.acked() {
		return
	}
	var body client.CashTransfer
	_ = json.Unmarshal(r.Body, &body) // we marshalled it
	raw, err := json.Marshal(benchOutLine{ID: r.TransferID, IdempotencyKey: r.Key, Status: r.Status,
		FromAccountID: body.FromAccountID, ToAccountID: body.ToAccountID, Amount: r.Amount})
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return
	}
	if err == nil {
		_, err = o.w.Write(append(raw, '\n'))
	}
	o.err = err
}

// close flushes and closes the file and reports the first error.
func (o *benchOut) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.err
	if err == nil {
		err = o.w.Flush()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
