// Package httpapi translates HTTP into calls on Fiscus's services: routing,
// the hardened middleware chain, the one strict JSON decoder, the one mapping
// of domain errors to RFC 9457 problem documents, and the operations
// endpoints (health, metrics, OpenAPI).
//
// Handlers are thin: decode, authorize, call one service method, encode.
package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/store"
)

// Deps are what the HTTP layer needs from the rest of the process.
type Deps struct {
	Config   config.Config
	DB       *store.DB
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a fresh one with Go and process collectors
	Version  string
	Now      func() time.Time
}

// Server holds the routes and the middleware chain.
type Server struct {
	cfg     config.Config
	db      *store.DB
	log     *slog.Logger
	metrics *metrics
	version string
	now     func() time.Time
	started time.Time

	mux      *http.ServeMux
	patterns []string // every registered pattern, for the spec test
	handler  http.Handler
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Registry == nil {
		d.Registry = NewRegistry()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		cfg:     d.Config,
		db:      d.DB,
		log:     d.Logger,
		metrics: newMetrics(d.Registry),
		version: d.Version,
		now:     d.Now,
		started: d.Now(),
		mux:     http.NewServeMux(),
	}
	if d.DB != nil {
		d.Registry.MustRegister(collectors.NewDBStatsCollector(d.DB.SQL(), "fiscus"))
		if d.DB.ReadSQL() != d.DB.SQL() {
			d.Registry.MustRegister(collectors.NewDBStatsCollector(d.DB.ReadSQL(), "fiscus_read"))
		}
	}
	s.routes()
	s.handler = s.chain(muxErrors(s.mux))
	return s
}

// Handler returns the complete handler: middleware chain and routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Patterns returns every registered route pattern ("GET /health", …).
func (s *Server) Patterns() []string { return slices.Clone(s.patterns) }

// chain wraps h in the middleware every request passes, outermost first.
func (s *Server) chain(h http.Handler) http.Handler {
	for _, mw := range []func(http.Handler) http.Handler{
		s.withLimits,
		s.withCORS,
		s.withSecurityHeaders,
		s.withRecover,
		s.withAccessLog,
		s.withRequestState,
	} {
		h = mw(h)
	}
	return h
}

// apiFunc is a handler that returns an error to be rendered as a problem.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers an apiFunc under a ServeMux pattern.
func (s *Server) handle(pattern string, fn apiFunc) {
	s.handleHTTP(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// handleHTTP registers a plain http.Handler under a ServeMux pattern.
func (s *Server) handleHTTP(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.patterns = append(s.patterns, pattern)
}

func (s *Server) routes() {
	s.handle("GET /health", s.handleHealth)
	s.handle("GET /health/ready", s.handleReady)
	s.handle("GET /health/detailed", s.handleDetailed)
	s.handleHTTP("GET /metrics", s.handleMetrics())
}
