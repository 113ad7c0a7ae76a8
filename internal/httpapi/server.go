// Package httpapi translates HTTP into calls on Fiscus's services: routing,
// the hardened middleware chain, the one strict JSON decoder, the one mapping
// of domain errors to RFC 9457 problem documents, and the operations
// endpoints (health, metrics, OpenAPI).
//
// Handlers are thin: decode, authorize, call one service method, encode.
package httpapi

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/ratelimit"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/transfer"
)

// Deps are what the HTTP layer needs from the rest of the process.
type Deps struct {
	Config   config.Config
	DB       *store.DB
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a fresh one with Go and process collectors
	Version  string
	Now      func() time.Time
	Identity *identity.Service
	// Accounts and Transfers serve the ledger routes; both or neither.
	Accounts  *accounts.Service
	Transfers *transfer.Service
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

	ids          *identity.Service
	accounts     *accounts.Service
	transfers    *transfer.Service
	ipLimit      *ratelimit.Limiter // auth endpoints, per client IP
	accountLimit *ratelimit.Limiter // login attempts, per email

	mux      *http.ServeMux
	patterns []string                    // every registered pattern, for the spec test
	perms    map[string]authz.Permission // pattern → permission, for the authorization test
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
		cfg:          d.Config,
		db:           d.DB,
		log:          d.Logger,
		metrics:      newMetrics(d.Registry),
		version:      d.Version,
		now:          d.Now,
		started:      d.Now(),
		mux:          http.NewServeMux(),
		perms:        map[string]authz.Permission{},
		ids:          d.Identity,
		accounts:     d.Accounts,
		transfers:    d.Transfers,
		ipLimit:      ratelimit.New(d.Config.AuthRatePerIP, max(1, d.Config.AuthRatePerIP/2), maxRateKeys),
		accountLimit: ratelimit.New(d.Config.AuthRatePerEmail, max(1, d.Config.AuthRatePerEmail/2), maxRateKeys),
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

// maxRateKeys bounds the keys each rate limiter remembers.
const maxRateKeys = 100_000

// handle registers a public apiFunc under a ServeMux pattern.
func (s *Server) handle(pattern string, fn apiFunc) { s.route(pattern, authz.Public, fn) }

// route registers an apiFunc that needs a permission. Every request is
// authenticated (unless the permission is Public) and authorized here, in one
// place; handlers read the caller with principalOf.
func (s *Server) route(pattern string, perm authz.Permission, fn apiFunc) {
	s.perms[pattern] = perm
	s.handleHTTP(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perm != authz.Public {
			if s.ids == nil {
				// A server built without identity (some tests) has no way to
				// sign anyone in: every protected route is closed.
				w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus"`)
				s.writeError(w, r, fault.New(fault.Unauthenticated, "Sign in first."))
				return
			}
			p, err := s.authenticate(w, r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !p.Can(perm) {
				s.writeError(w, r, fault.New(fault.Forbidden, "Your role does not allow this."))
				return
			}
		}
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// handleHTTP registers a plain http.Handler under a ServeMux pattern.
func (s *Server) handleHTTP(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.patterns = append(s.patterns, pattern)
	if _, ok := s.perms[pattern]; !ok {
		s.perms[pattern] = authz.Public
	}
}

// Permissions returns the permission each registered pattern requires.
func (s *Server) Permissions() map[string]authz.Permission { return maps.Clone(s.perms) }

func (s *Server) routes() {
	s.handle("GET /health", s.handleHealth)
	s.handle("GET /health/ready", s.handleReady)
	s.route("GET /health/detailed", authz.SystemRead, s.handleDetailed)
	s.handleHTTP("GET /metrics", s.handleMetrics())

	// The API contract and its documentation page (openapi.go). Every route
	// registered here must be described in internal/openapi/openapi.yaml;
	// spec_test.go fails otherwise.
	spec := mustLoadSpec()
	s.handleHTTP("GET /openapi.yaml", serveResource(spec.YAML()))
	s.handleHTTP("GET /openapi.json", serveResource(spec.JSON()))
	s.handleHTTP("GET /docs", serveResource(spec.DocsPage()))
	s.handle("GET /docs/{asset}", handleDocsAsset(spec))
	if s.ids != nil {
		s.identityRoutes()
	}
	if s.accounts != nil && s.transfers != nil {
		s.ledgerRoutes()
	}
}
