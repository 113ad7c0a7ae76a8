// Package app wires Fiscus together from a Config: database, migrations,
// services, background workers and the HTTP server. cmd/fiscus and the
// end-to-end tests both boot the real process through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/httpapi"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/live"
	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/seed"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/transfer"
)

// App is one running Fiscus process.
type App struct {
	cfg       config.Config
	db        *store.DB
	log       *slog.Logger
	ids       *identity.Service
	accts     *accounts.Service
	eng       *journal.Engine
	transfers *transfer.Service
	events    *outbox.Dispatcher
	hub       *live.Hub
	server    *httpapi.Server
	now       func() time.Time

	// workers run in the background while the app serves; each returns when
	// its context is cancelled (after the HTTP server has drained).
	workers []func(context.Context) error
	indexer *store.Indexer
}

// Options are optional dependencies, mainly for tests.
type Options struct {
	Version string
	Now     func() time.Time // nil: time.Now
	// ManualIndex (tests) leaves the bulk indexes (store.Indexer) to
	// IndexNow: they are not filled in the background.
	ManualIndex bool
}

// New opens the database, migrates it if configured to, and builds the
// services and the HTTP server. The Config must have a resolved secret.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*App, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: cfg.DBMaxConns, TxMaxAttempts: cfg.DBTxMaxAttempts})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, db: db, log: log, now: opt.Now}
	if cfg.MigrateOnStart {
		n, err := db.MigrateUp(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if n > 0 {
			log.Info("applied migrations", "count", n)
		}
	} else if cur, err := db.MigrationsCurrent(ctx); err != nil || !cur {
		db.Close()
		if err == nil {
			err = errors.New("the database schema is not current: run `fiscus migrate up` or set MIGRATE_ON_START=true")
		}
		return nil, err
	}
	ids, err := identity.FromConfig(cfg, db, log, opt.Now)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.ids = ids
	linger := cfg.LedgerLinger
	if linger == 0 {
		linger = -1 // the engine's "never wait"
	}
	// The engine seals its operations' audit events and numbers their
	// outbox events as it inserts them; the sealer and the sequencer below
	// handle everything recorded elsewhere.
	a.eng = journal.New(db, journal.Options{MaxBatch: cfg.LedgerMaxBatch, Linger: linger, Logger: log,
		Chains: []journal.Chain{audit.NewLinker(), outbox.NewLinker()}})
	a.accts = accounts.New(accounts.Deps{DB: db, Now: opt.Now})
	keys := idempotency.New(db, cfg.IdempotencyRetention)
	rc, err := riskConfig(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.transfers = transfer.New(transfer.Deps{DB: db, Engine: a.eng, Accounts: a.accts, Keys: keys, Policy: cfg.Policy,
		Risk: newRiskAssessor(db, rc, cfg.RiskHistoryCache, ids), Now: opt.Now})
	// Domain events: the dispatcher delivers the outbox, in order, to the
	// in-process hub the web app's live updates listen to.
	a.hub = live.New()
	// A short poll instead of a wake-up per commit: under load the
	// sequencer then numbers events in a few large transactions rather than
	// competing with the posting engine for the writer after every batch.
	// The live hub's cursor is written about once a second rather than
	// after every round of 100 events: under load those writes took the
	// writer connection from the posting engine dozens of times a second.
	a.events = outbox.NewDispatcher(db, log, outbox.Options{Now: opt.Now, PollInterval: eventPollInterval,
		CursorInterval: eventCursorInterval})
	started := opt.Now()
	a.events.Subscribe(liveSubscriber, func(_ context.Context, d outbox.Delivery) error {
		if d.Event.At.Before(started.Add(-time.Minute)) {
			return nil // history from before this process: not live
		}
		a.hub.Publish(d)
		return nil
	})
	if cfg.SeedDemoData {
		if err := seed.Demo(ctx, seed.Deps{DB: db, Identity: ids, Accounts: a.accts, Now: opt.Now, Logger: log}); err != nil {
			db.Close()
			return nil, err
		}
	}
	reg := httpapi.NewRegistry()
	reg.MustRegister(newLedgerCollector(a.eng, db))
	a.server = httpapi.New(httpapi.Deps{
		Config:    cfg,
		DB:        db,
		Logger:    log,
		Registry:  reg,
		Version:   opt.Version,
		Now:       opt.Now,
		Identity:  ids,
		Accounts:  a.accts,
		Transfers: a.transfers,
	})
	// The posting engine's writer; when Run stops the workers (after the
	// HTTP server has drained) it commits what is still queued.
	a.workers = append(a.workers, a.eng.Run)
	a.workers = append(a.workers, a.events.Run)
	// SQLite: the transfers' owners, the postings' accounts and the audit
	// events' actors are indexed in bulk, behind the posting path
	// (store.BulkIndex).
	a.indexer = store.NewIndexer(db, log, transfer.PartiesIndex, accounts.PostingsIndex, audit.ActorsIndex)
	if !opt.ManualIndex {
		a.workers = append(a.workers, a.indexer.Run)
	}
	a.workers = append(a.workers, maintenance(maintained{eng: a.eng, keys: keys, transfers: a.transfers, events: a.events,
		eventRetention: cfg.OutboxRetention}, opt.Now, log))
	// The sealer links committed audit events into the hash chain every
	// AUDIT_SEAL_INTERVAL_MS; when Run stops the workers (after the HTTP
	// server has drained) it seals once more, so no event is left unsealed.
	a.workers = append(a.workers, audit.NewSealer(db, log, cfg.AuditSealInterval).Run)
	return a, nil
}

// IndexNow fills the bulk indexes up to the last committed row.
func (a *App) IndexNow(ctx context.Context) error { return a.indexer.CatchUp(ctx) }

// Handler returns the HTTP handler (for in-process tests).
func (a *App) Handler() http.Handler { return a.server.Handler() }

// Server returns the HTTP server (for route and spec tests).
func (a *App) Server() *httpapi.Server { return a.server }

// Identity returns the identity service (tests use it to create staff users).
func (a *App) Identity() *identity.Service { return a.ids }

// Accounts returns the accounts service (tests read balances with it).
func (a *App) Accounts() *accounts.Service { return a.accts }

// Transfers returns the transfer service (tests run its expiry sweep).
func (a *App) Transfers() *transfer.Service { return a.transfers }

// Live returns the hub of live domain events.
func (a *App) Live() *live.Hub { return a.hub }

// Engine returns the posting engine (tests read its counters).
func (a *App) Engine() *journal.Engine { return a.eng }

// DB returns the database.
func (a *App) DB() *store.DB { return a.db }

// Run serves on ln and runs the background workers until ctx is cancelled,
// then drains in-flight requests, stops the workers and returns.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var wg sync.WaitGroup
	werrs := make(chan error, len(a.workers))
	for _, w := range a.workers {
		wg.Go(func() {
			if err := w(wctx); err != nil && !errors.Is(err, context.Canceled) {
				werrs <- err
			}
		})
	}
	err := httpapi.Serve(ctx, ln, a.server.Handler(), httpapi.ServeOptions{
		TLSCertFile:     a.cfg.TLSCertFile,
		TLSKeyFile:      a.cfg.TLSKeyFile,
		RequestTimeout:  a.cfg.RequestTimeout,
		ShutdownTimeout: a.cfg.ShutdownTimeout,
		Logger:          a.log,
	})
	// Requests are drained: workers may now finish their last round.
	stopWorkers()
	wg.Wait()
	close(werrs)
	for werr := range werrs {
		err = errors.Join(err, fmt.Errorf("background worker: %w", werr))
	}
	return err
}

// Close releases the database.
func (a *App) Close() error { return a.db.Close() }

// eventPollInterval is how often the outbox dispatcher looks for new
// domain events: the longest a live update waits.
const eventPollInterval = 200 * time.Millisecond

// eventCursorInterval is the least time between two writes of the live
// hub's cursor. A restart may deliver up to that much to the hub again
// (delivery is at least once).
const eventCursorInterval = time.Second

// liveSubscriber is the live-update hub's cursor name, the same on every
// replica: each replica delivers every event from where it started to its
// own hub (the dispatcher keeps its position in memory), and the one shared
// cursor only records how far they got, so a restart resumes near the head
// instead of replaying history, and no cursor is left behind by a replica
// that is gone (a stale cursor would keep Prune from deleting anything).
const liveSubscriber = "live"
