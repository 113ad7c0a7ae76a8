package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/logging"
)

// maxRequestIDLen bounds an accepted X-Request-ID.
const maxRequestIDLen = 128

// reqState is per-request information that outer middleware needs to learn
// from inner layers (the matched route) and that handlers read (request ID,
// client IP). One is created per request by the outermost middleware.
type reqState struct {
	id        string
	clientIP  string
	pattern   string           // ServeMux pattern that matched, "" if none
	principal *authz.Principal // the authenticated caller, if any
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

func requestIDOf(r *http.Request) string { return stateOf(r).id }

func userIDOf(st *reqState) string {
	if st.principal == nil {
		return ""
	}
	return st.principal.UserID
}

// ClientIP returns the client address the server trusts for this request.
func ClientIP(r *http.Request) string { return stateOf(r).clientIP }

// RequestID returns the request's ID.
func RequestID(r *http.Request) string { return stateOf(r).id }

// validRequestID accepts IDs of safe characters only, so a client-supplied
// value can be echoed and logged without injection.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}

// withRequestState is the outermost middleware: request ID (accepted or
// generated, echoed), client IP, and a context carrying both.
func (s *Server) withRequestState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		st := &reqState{id: id, clientIP: clientIP(r, s.cfg.TrustedProxies)}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		ctx = logging.WithRequestID(ctx, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withAccessLog logs one JSON line per request and records metrics.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			s.metrics.inFlight.Dec()
			st := stateOf(r)
			route := st.pattern
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.observe(r.Method, route, status, d)
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.String("ip", st.clientIP),
				slog.String("user_id", userIDOf(st)),
				slog.String("user_agent", truncate(r.UserAgent(), 256)),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// withRecover turns a handler panic into a 500 problem with the request ID.
// The stack goes to the log, never to the client; the server keeps serving.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // deliberate abort: let net/http drop the connection
			}
			s.log.ErrorContext(r.Context(), "handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()),
				"method", r.Method, "path", r.URL.Path)
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// Headers are gone; the only honest thing left is to cut the
				// connection so the client sees a broken response.
				panic(http.ErrAbortHandler)
			}
			WriteProblem(w, r, http.StatusInternalServerError,
				fault.New(fault.Internal, "An internal error occurred. Quote the request ID when reporting it."))
		}()
		next.ServeHTTP(w, r)
	})
}

// withSecurityHeaders sets headers that harden every response.
func (s *Server) withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			// API answers carry personal and financial data: never cache them.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS answers preflights and sets CORS headers for allowlisted origins
// only. With no origins configured, cross-origin browser calls are refused.
func (s *Server) withCORS(next http.Handler) http.Handler {
	c := cors.New(cors.Options{
		AllowedOrigins:   s.cfg.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "X-CSRF-Token"},
		ExposedHeaders:   []string{"X-Request-ID", "Retry-After", "Location"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return c.Handler(next)
}

// withLimits bounds request bodies and request time.
func (s *Server) withLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			WriteProblem(w, r, http.StatusRequestEntityTooLarge,
				fault.New(fault.BodyTooLarge, "The request body exceeds %d bytes.", s.cfg.MaxBodyBytes).With("limit_bytes", s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// muxErrors is the innermost layer around the ServeMux. It records the matched
// pattern for logs and metrics, and replaces the mux's plain-text 404 and 405
// answers with problem documents.
func muxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		ew := &muxErrorWriter{ResponseWriter: w, r: r}
		mux.ServeHTTP(ew, r)
		st.pattern = r.Pattern // set by ServeMux on the request it was given
	})
}

type muxErrorWriter struct {
	http.ResponseWriter
	r          *http.Request
	suppressed bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	if w.r.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.suppressed = true
		if code == http.StatusNotFound {
			WriteProblem(w.ResponseWriter, w.r, code, fault.New(fault.NotFound, "No such resource."))
		} else {
			WriteProblem(w.ResponseWriter, w.r, code, fault.New(fault.MethodNotAllowed, "Method %s is not allowed here.", w.r.Method))
		}
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.suppressed {
		return len(b), nil // the mux's plain-text body; the problem is already written
	}
	return w.ResponseWriter.Write(b)
}

func (w *muxErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
