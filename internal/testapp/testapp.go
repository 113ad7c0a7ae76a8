// Package testapp boots the real Fiscus process for end-to-end tests: the
// whole app (migrations, services, middleware, routes) on a fresh database
// of either engine, served on 127.0.0.1:0, with a clock the test controls.
// Tests talk to it over HTTP through internal/client, and every response a
// client of Env.Client sees is validated against the OpenAPI document: an
// undocumented status, field or header fails the test.
//
// Only tests import this package; it links the OpenAPI validator, which the
// server binary must not.
package testapp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/app"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/logging"
	"github.com/fiscus/fiscus/internal/openapi/openapitest"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// Secret is the APP_SECRET of test servers.
const Secret = "test-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Env is a running server.
type Env struct {
	URL string
	// DatabaseURL is the server's database; start a second instance with
	// Options.Env["DATABASE_URL"] set to it to test replicas.
	DatabaseURL string
	App         *app.App
	Clock       *Clock
	Logs        *SyncBuffer

	t        testing.TB
	contract *openapitest.Validator
}

// Client returns a new API client for the server. Every response it
// receives is validated against the OpenAPI document; a response that does
// not match fails the test that started the server.
func (e *Env) Client() *client.Client {
	c := client.New(e.URL)
	c.HTTP.Transport = e.contract.Transport(e.t, nil)
	return c
}

// contract is the OpenAPI validator, built once per test binary: it is
// immutable and safe for concurrent use, and building it parses the whole
// document.
var contract = sync.OnceValues(openapitest.New)

// Options adjust the server's environment variables.
type Options struct {
	Env map[string]string // extra or overriding variables
	// ManualIndex: the bulk indexes are filled only by App.IndexNow (see
	// app.Options).
	ManualIndex bool
}

// Start boots a server on a fresh database of the given engine and stops it
// when the test ends. Password hashing uses cheap parameters so tests stay
// fast; the production parameters are tested in internal/password.
func Start(t testing.TB, engine store.Dialect, opt Options) *Env {
	t.Helper()
	validator, err := contract()
	if err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	vars := map[string]string{
		"FISCUS_ENV":                   "dev",
		"FISCUS_DATA_DIR":              t.TempDir(),
		"DATABASE_URL":                 storetest.URL(t, engine),
		"APP_SECRET":                   Secret,
		"SEED_DEMO_DATA":               "false",
		"ARGON2_MEMORY_KIB":            "1024",
		"ARGON2_ITERATIONS":            "1",
		"AUTH_RATE_PER_MINUTE_IP":      "0",
		"AUTH_RATE_PER_MINUTE_ACCOUNT": "0",
		"LOG_LEVEL":                    "debug",
	}
	for k, v := range opt.Env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &SyncBuffer{}
	log := logging.New(logs, slog.LevelDebug)
	clock := NewClock(time.Now().UTC().Truncate(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, app.Options{Version: "test", Now: clock.Now, ManualIndex: opt.ManualIndex})
	if err != nil {
		cancel()
		t.Fatalf("app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
		a.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &Env{URL: "http://" + ln.Addr().String(), DatabaseURL: vars["DATABASE_URL"], App: a, Clock: clock, Logs: logs, t: t, contract: validator}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*SyncBuffer)(nil)
