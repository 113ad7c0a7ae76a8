package main

import (
	"context"
	"fmt"
	"io"
	"net"

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
