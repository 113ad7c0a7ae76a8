package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/logging"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// testConfig is a valid dev configuration for in-process servers.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "FISCUS_DATA_DIR":
			return t.TempDir()
		case "APP_SECRET":
			return "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
		case "CORS_ALLOWED_ORIGINS":
			return "https://app.example.com"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestServer builds a Server on a fresh SQLite database, logging into buf.
func newTestServer(t *testing.T, cfg config.Config, logs *bytes.Buffer) *Server {
	t.Helper()
	return newTestServerOn(t, cfg, logs, storetest.Open(t, store.SQLite))
}

func newTestServerOn(t *testing.T, cfg config.Config, logs *bytes.Buffer, db *store.DB) *Server {
	t.Helper()
	var w io.Writer = io.Discard
	if logs != nil {
		w = logs
	}
	return New(Deps{Config: cfg, DB: db, Logger: logging.New(w, slog.LevelDebug), Version: "test"})
}

// do runs one request through the full handler chain.
func do(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// problemOf decodes a problem response, failing unless it is one.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q (status %d, body %s)", ct, ProblemContentType, rec.Code, rec.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, rec.Body)
	}
	if int(p["status"].(float64)) != rec.Code {
		t.Fatalf("problem status %v != HTTP status %d", p["status"], rec.Code)
	}
	for _, k := range []string{"type", "title", "code", "request_id"} {
		if s, _ := p[k].(string); s == "" {
			t.Fatalf("problem lacks %q: %s", k, rec.Body)
		}
	}
	if p["request_id"] != rec.Header().Get("X-Request-ID") {
		t.Fatalf("problem request_id %v != X-Request-ID %q", p["request_id"], rec.Header().Get("X-Request-ID"))
	}
	return p
}
