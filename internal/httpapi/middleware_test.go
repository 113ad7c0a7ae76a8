package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestIDAcceptedOrGenerated(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := newTestServer(t, testConfig(t), &logs)
	cases := []struct {
		sent   string
		keepIt bool
	}{
		{"", false},
		{"abc-123_x.y:z", true},
		{"has space", false},
		{"inject\"quote", false},
		{strings.Repeat("a", maxRequestIDLen+1), false},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodGet, "/health", nil)
		if c.sent != "" {
			req.Header.Set("X-Request-ID", c.sent)
		}
		rec := do(t, s.Handler(), req)
		got := rec.Header().Get("X-Request-ID")
		if c.keepIt && got != c.sent {
			t.Errorf("sent %q, echoed %q", c.sent, got)
		}
		if !c.keepIt && (got == c.sent || !strings.HasPrefix(got, "req_")) {
			t.Errorf("sent %q: got %q, want a generated req_ ID", c.sent, got)
		}
	}
	// Every access log line is JSON and names its request.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(cases), logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &line); err != nil {
		t.Fatal(err)
	}
	if line["request_id"] != "abc-123_x.y:z" || line["route"] != "GET /health" || line["status"] != float64(200) {
		t.Fatalf("access log line = %v", line)
	}
}

func TestPanicBecomesProblemAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := newTestServer(t, testConfig(t), &logs)
	s.mux.HandleFunc("GET /test/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal detail")
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/test/panic")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != ProblemContentType {
		t.Fatalf("got %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != "internal_error" || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("problem = %+v", p)
	}
	if strings.Contains(string(body), "secret internal detail") || strings.Contains(string(body), "goroutine") {
		t.Fatalf("panic detail leaked to client: %s", body)
	}
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), p.RequestID) {
		t.Fatal("panic not logged with its request ID")
	}
	// The server is still up.
	resp, err = http.Get(srv.URL + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after panic: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A panic after the response has started cannot become a problem document;
// the connection is cut so the client cannot mistake it for success.
func TestPanicAfterHeadersAbortsConnection(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testConfig(t), nil)
	s.mux.HandleFunc("GET /test/late-panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		panic("late")
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/test/late-panic")
	if err != nil {
		return // connection cut before the headers arrived: fine
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a handler that panicked mid-response delivered a complete body")
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testConfig(t), nil)
	rec := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/health", nil))
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	// Over TLS, HSTS is set.
	srv := httptest.NewTLSServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HSTS over TLS = %q", resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestCORSAllowlist(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testConfig(t), nil)
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/health", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, idempotency-key")
		return do(t, s.Handler(), req)
	}
	ok := preflight("https://app.example.com")
	if ok.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("allowed origin refused: %v", ok.Header())
	}
	if !strings.Contains(strings.ToLower(ok.Header().Get("Access-Control-Allow-Headers")), "idempotency-key") {
		t.Fatalf("Idempotency-Key not allowed: %v", ok.Header())
	}
	bad := preflight("https://evil.example.com")
	if bad.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", bad.Header())
	}
	req := httptest.NewRequest(http.MethodGet, "/health", nil)
	req.Header.Set("Origin", "https://evil.example.com")
	if got := do(t, s.Handler(), req).Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("simple request from foreign origin got ACAO %q", got)
	}
}

func TestUnknownRouteAndMethodAreProblems(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testConfig(t), nil)
	rec := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil))
	if rec.Code != 404 || problemOf(t, rec)["code"] != "not_found" {
		t.Fatalf("unknown route: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, s.Handler(), httptest.NewRequest(http.MethodDelete, "/health", nil))
	if rec.Code != 405 || problemOf(t, rec)["code"] != "method_not_allowed" {
		t.Fatalf("wrong method: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Header().Get("Allow"), "GET") {
		t.Fatalf("405 without Allow: %v", rec.Header())
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MetricsToken = "metrics-token-0123456789"
	s := newTestServer(t, cfg, nil)
	_ = do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/health", nil))
	rec := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 401 {
		t.Fatalf("metrics without token: %d", rec.Code)
	}
	problemOf(t, rec)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer metrics-token-0123456789")
	rec = do(t, s.Handler(), req)
	if rec.Code != 200 {
		t.Fatalf("metrics with token: %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`fiscus_http_requests_total{code="200",method="GET",route="GET /health"} 1`,
		"fiscus_http_request_duration_seconds_bucket",
		"fiscus_http_requests_in_flight",
		"go_goroutines",
		`go_sql_max_open_connections{db_name="fiscus"}`,      // database pool stats
		`go_sql_max_open_connections{db_name="fiscus_read"}`, // SQLite reader pool
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	_, proxy, _ := net.ParseCIDR("10.0.0.0/8")
	trusted := []*net.IPNet{proxy}
	cases := []struct {
		remote, xff string
		trusted     []*net.IPNet
		want        string
	}{
		{"203.0.113.5:1234", "", nil, "203.0.113.5"},
		{"203.0.113.5:1234", "1.2.3.4", nil, "203.0.113.5"},                           // no trusted proxies: header ignored
		{"203.0.113.5:1234", "1.2.3.4", trusted, "203.0.113.5"},                       // peer is not a proxy: header ignored
		{"10.0.0.2:1234", "198.51.100.7", trusted, "198.51.100.7"},                    // one trusted hop
		{"10.0.0.2:1234", "6.6.6.6, 198.51.100.7, 10.0.0.9", trusted, "198.51.100.7"}, // spoofed left part ignored
		{"10.0.0.2:1234", "garbage", trusted, "10.0.0.2"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, c.trusted); got != c.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}
