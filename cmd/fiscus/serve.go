package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime/debug"

	"github.com/fiscus/fiscus/internal/app"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newEnvFlags("serve", stderr)
	addr := f.fs.String("addr", "", "listen address host:port (overrides $ADDR and $PORT)")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	env := f.getenv(getenv)
	if *addr != "" {
		inner := env
		env = func(k string) string {
			if k == "ADDR" {
				return *addr
			}
			return inner(k)
		}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	log.Info("starting fiscus", "version", buildVersion(), "config", cfg.String())
	if pct, set := serverGCPercent(getenv("GOGC")); set {
		debug.SetGCPercent(pct)
	}
	a, err := app.New(ctx, cfg, log, app.Options{Version: buildVersion()})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: listen on %s: %w", cfg.Addr, err)
	}
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "env", cfg.Env)
	fmt.Fprintf(stdout, "Fiscus %s listening on %s://%s (%s mode)\n", buildVersion(), scheme, ln.Addr(), cfg.Env)
	return a.Run(ctx, ln)
}

// defaultServerGCPercent is the garbage collector's target for "serve" when
// GOGC is not set: a server's live heap is small and steady, so collecting
// when it has grown by 400% instead of Go's 100% costs little memory and
// saves CPU on every request (see BENCHMARKS.md, "HTTP transfers").
const defaultServerGCPercent = 400

// serverGCPercent returns the GC percent serve sets, and false when GOGC is
// set (the Go runtime has already applied it).
func serverGCPercent(gogc string) (int, bool) {
	if gogc != "" {
		return 0, false
	}
	return defaultServerGCPercent, true
}
