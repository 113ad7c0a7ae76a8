package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fiscus/fiscus/internal/openapi/openapitest"
)

const problem404 = `{"type":"urn:fiscus:problem:not_found","title":"Not Found","status":404,"detail":"No such resource.",` +
	`"instance":"/x","code":"not_found","request_id":"req_1"}`

const problem405 = `{"type":"urn:fiscus:problem:method_not_allowed","title":"Method Not Allowed","status":405,` +
	`"code":"method_not_allowed","request_id":"req_1"}`

// response builds a recorded response with the headers every Fiscus answer has.
func response(status int, contentType, body string, extra ...string) *http.Response {
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Request-ID", "req_1")
	if contentType != "" {
		rec.Header().Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		rec.Header().Set(extra[i], extra[i+1])
	}
	rec.WriteHeader(status)
	_, _ = io.WriteString(rec, body)
	return rec.Result()
}

func TestValidateResponse(t *testing.T) {
	v := openapitest.Load(t)
	noStore := []string{"Cache-Control", "no-store"}
	for _, c := range []struct {
		name, method, path string
		res                *http.Response
		wantErr            string // "" when the response is valid
	}{
		{"health", "GET", "/health", response(200, "application/json", `{"status":"ok"}`, noStore...), ""},
		{"health: wrong value", "GET", "/health", response(200, "application/json", `{"status":"OK"}`, noStore...), "status"},
		{"health: undocumented field", "GET", "/health", response(200, "application/json", `{"status":"ok","x":1}`, noStore...), "x"},
		{"health: no request ID", "GET", "/health", func() *http.Response {
			r := response(200, "application/json", `{"status":"ok"}`, noStore...)
			r.Header.Del("X-Request-ID")
			return r
		}(), "X-Request-ID"},
		{"health: undocumented status", "GET", "/health", response(418, "application/json", `{"status":"ok"}`), "418"},
		{"health: undocumented content type", "GET", "/health", response(200, "text/plain", `ok`, noStore...), "text/plain"},
		{"health: not JSON", "GET", "/health", response(200, "application/json", `{"status":`, noStore...), "decode"},
		{"ready: wrong check value", "GET", "/health/ready", response(503, "application/json",
			`{"status":"unavailable","checks":{"database":"down","migrations":"ok"}}`, noStore...), "database"},
		{"unknown path: problem", "GET", "/x", response(404, "application/problem+json", problem404), ""},
		{"unknown path: 200", "GET", "/x", response(200, "application/json", `{}`), "200"},
		{"unknown path: problem without code", "GET", "/x", response(404, "application/problem+json",
			strings.Replace(problem404, `"code":"not_found",`, "", 1)), "code"},
		{"unknown path: plain text", "GET", "/x", response(404, "text/plain", "404 page not found"), "text/plain"},
		{"unknown method: problem", "POST", "/health", response(405, "application/problem+json", problem405, "Allow", "GET, HEAD"), ""},
		{"unknown method: no Allow", "POST", "/health", response(405, "application/problem+json", problem405), "Allow"},
		{"unknown method: 404", "POST", "/health", response(404, "application/problem+json", problem404), "404"},
		{"HEAD: no body", "HEAD", "/health", response(200, "application/json", "", noStore...), ""},
		{"CORS preflight", "OPTIONS", "/health", response(204, "", ""), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, nil)
			if c.name == "CORS preflight" {
				req.Header.Set("Origin", "https://app.example.com")
				req.Header.Set("Access-Control-Request-Method", "GET")
			}
			err := v.ValidateResponse(req, c.res)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("valid response refused: %v", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("invalid response accepted")
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("error does not mention %q: %v", c.wantErr, err)
			}
			// The body stays readable for the caller.
			if _, err := io.ReadAll(c.res.Body); err != nil {
				t.Errorf("body not readable after validation: %v", err)
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	v := openapitest.Load(t)
	if err := v.ValidateRequest(httptest.NewRequest("GET", "/docs/swagger-ui.css", nil)); err != nil {
		t.Errorf("valid request refused: %v", err)
	}
	if err := v.ValidateRequest(httptest.NewRequest("GET", "/docs/evil.js", nil)); err == nil {
		t.Error("an asset outside the enum was accepted")
	}
	if err := v.ValidateRequest(httptest.NewRequest("GET", "/nowhere", nil)); err == nil {
		t.Error("an unknown path was accepted")
	}
}

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}
func (r *recorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }

func TestTransportValidatesEveryResponse(t *testing.T) {
	v := openapitest.Load(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "req_1")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("broken") != "" {
			_, _ = io.WriteString(w, `{"status":"fine"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	c := &http.Client{Transport: v.Transport(rec, nil)}

	for _, q := range []string{"", "?broken=1"} {
		res, err := c.Get(srv.URL + "/health" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), `"status"`) {
			t.Errorf("the caller lost the body: %q", body)
		}
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "status") {
		t.Fatalf("want exactly one reported error about status, got %q", rec.errs)
	}
}
