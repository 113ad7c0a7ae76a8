package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type decodeTarget struct {
	Name   string `json:"name"`
	Amount int64  `json:"amount"`
	Tags   []string
	Nested struct {
		Flag bool `json:"flag"`
	} `json:"nested"`
}

// echoServer is a test server with one extra route that decodes a body.
func echoServer(t *testing.T) *Server {
	t.Helper()
	s := newTestServer(t, testConfig(t), nil)
	s.mux.Handle("POST /test/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v decodeTarget
		if err := decodeJSON(r, &v); err != nil {
			s.writeError(w, r, err)
			return
		}
		_ = writeJSON(w, http.StatusOK, v)
	}))
	return s
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	s := echoServer(t)
	big := `{"name":"` + strings.Repeat("x", 10<<20) + `"}`
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		field       string
	}{
		{"ok", "application/json", `{"name":"a","amount":5}`, 200, "", ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, 200, "", ""},
		{"trailing white space is fine", "application/json", "{\"name\":\"a\"}\n \t", 200, "", ""},
		{"empty body", "application/json", ``, 400, "malformed_json", ""},
		{"malformed", "application/json", `{"name":`, 400, "malformed_json", ""},
		{"syntax error", "application/json", `{"name" "a"}`, 400, "malformed_json", ""},
		{"not an object", "application/json", `[1,2]`, 400, "invalid_type", "(body)"},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, 400, "unknown_field", "admin"},
		{"wrong type", "application/json", `{"amount":"12.00"}`, 400, "invalid_type", "amount"},
		{"float for integer", "application/json", `{"amount":12.5}`, 400, "invalid_type", "amount"},
		{"nested wrong type", "application/json", `{"nested":{"flag":"yes"}}`, 400, "invalid_type", "nested.flag"},
		{"overflowing integer", "application/json", `{"amount":99999999999999999999}`, 400, "invalid_type", "amount"},
		{"trailing data", "application/json", `{"name":"a"}{"name":"b"}`, 400, "malformed_json", ""},
		{"trailing garbage", "application/json", `{"name":"a"} x`, 400, "malformed_json", ""},
		{"no content type", "", `{"name":"a"}`, 415, "unsupported_media_type", ""},
		{"form content type", "application/x-www-form-urlencoded", `name=a`, 415, "unsupported_media_type", ""},
		{"text content type", "text/plain", `{"name":"a"}`, 415, "unsupported_media_type", ""},
		{"latin1 charset", "application/json; charset=iso-8859-1", `{"name":"a"}`, 415, "unsupported_media_type", ""},
		{"10 MB body", "application/json", big, 413, "body_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			rec := do(t, s.Handler(), req)
			if rec.Code != c.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, c.status, truncate(rec.Body.String(), 300))
			}
			if c.status == 200 {
				return
			}
			p := problemOf(t, rec)
			if p["code"] != c.code {
				t.Fatalf("code = %v, want %s", p["code"], c.code)
			}
			if c.field != "" {
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["field"] != c.field {
					t.Fatalf("errors = %v, want one naming field %q", p["errors"], c.field)
				}
			}
		})
	}
}

// A body larger than the limit without a Content-Length (chunked) is cut off
// by the reader, not buffered whole.
func TestDecodeChunkedOversizeBody(t *testing.T) {
	t.Parallel()
	s := echoServer(t)
	body := `{"name":"` + strings.Repeat("y", 2<<20) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/test/echo", struct{ *strings.Reader }{strings.NewReader(body)})
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := do(t, s.Handler(), req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413: %s", rec.Code, truncate(rec.Body.String(), 200))
	}
	if p := problemOf(t, rec); p["code"] != "body_too_large" {
		t.Fatalf("code = %v", p["code"])
	}
}

func TestDecodedValuesArrive(t *testing.T) {
	t.Parallel()
	s := echoServer(t)
	req := httptest.NewRequest(http.MethodPost, "/test/echo", bytes.NewReader([]byte(`{"name":"n","amount":-7,"Tags":["a"],"nested":{"flag":true}}`)))
	req.Header.Set("Content-Type", "application/json")
	rec := do(t, s.Handler(), req)
	want := `{"name":"n","amount":-7,"Tags":["a"],"nested":{"flag":true}}` + "\n"
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("got %d %q, want 200 %q", rec.Code, rec.Body, want)
	}
}

// Optional bodies: absent (even when sent chunked, with no length) is fine;
// present, they get the same strict checks.
func TestDecodeOptionalJSON(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testConfig(t), nil)
	s.mux.Handle("POST /test/optional", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := decodeTarget{Name: "default"}
		if err := decodeOptionalJSON(r, &v); err != nil {
			s.writeError(w, r, err)
			return
		}
		_ = writeJSON(w, http.StatusOK, v)
	}))
	send := func(body, contentType string, chunked bool) *httptest.ResponseRecorder {
		var req *http.Request
		if chunked {
			req = httptest.NewRequest(http.MethodPost, "/test/optional", struct{ *strings.Reader }{strings.NewReader(body)})
			req.ContentLength = -1
		} else {
			req = httptest.NewRequest(http.MethodPost, "/test/optional", strings.NewReader(body))
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return do(t, s.Handler(), req)
	}
	for _, chunked := range []bool{false, true} {
		if rec := send("", "", chunked); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"default"`) {
			t.Fatalf("empty body (chunked=%v): %d %s", chunked, rec.Code, rec.Body)
		}
	}
	if rec := send(`{"name":"x"}`, "application/json", true); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"x"`) {
		t.Fatalf("chunked body: %d %s", rec.Code, rec.Body)
	}
	if rec := send(`{"bogus":1}`, "application/json", false); rec.Code != 400 {
		t.Fatalf("unknown field in optional body: %d", rec.Code)
	}
	if rec := send(`{"name":"x"}`, "text/plain", false); rec.Code != 415 {
		t.Fatalf("wrong content type with a body: %d", rec.Code)
	}
}
