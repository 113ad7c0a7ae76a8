package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server-level bounds. Request bodies and per-request time are bounded by
// configuration in the middleware; these protect the connection itself.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// ServeOptions configure Serve.
type ServeOptions struct {
	TLSCertFile, TLSKeyFile string
	RequestTimeout          time.Duration // per-request budget; write timeout is derived from it
	ShutdownTimeout         time.Duration
	Logger                  *slog.Logger
}

// Serve serves h on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections, lets in-flight requests finish (up to
// ShutdownTimeout) and returns nil. It returns an error if serving fails or
// requests were still running when the shutdown timeout expired.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opt ServeOptions) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       opt.RequestTimeout,
		WriteTimeout:      opt.RequestTimeout + 5*time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if opt.TLSCertFile != "" {
			err = srv.ServeTLS(ln, opt.TLSCertFile, opt.TLSKeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	opt.Logger.Info("shutting down: draining in-flight requests", "timeout", opt.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), opt.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	opt.Logger.Info("shutdown complete")
	return nil
}
