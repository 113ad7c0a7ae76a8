package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// benchConn sends what the server expects, keeps its connection between
// requests, reads content-length, chunked and problem answers, and dials
// again after the server closes the connection, with or without saying so.
func TestBenchConn(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		conns int // connections the server accepted
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/base/api/v1/transfers" || r.Host != localAddr(r) ||
			r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" ||
			r.ContentLength != int64(len(body)) {
			t.Errorf("request %s %s host %q headers %v length %d", r.Method, r.URL.Path, r.Host, r.Header, r.ContentLength)
		}
		key := r.Header.Get("Idempotency-Key")
		switch key {
		case "chunked":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"trf_`)
			w.(http.Flusher).Flush() // no Content-Length now: the body is chunked
			fmt.Fprintf(w, `%s"}`, body)
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"trf_close"}`)
		case "problem":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"status":422,"code":"insufficient_funds","needed":"5.00"}`)
		case "hang":
			<-r.Context().Done()
		default:
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":"trf_%s"}`, key)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	accepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return conns
	}
	c, err := newBenchConn(srv.URL+"/base", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	post := func(key, body string) (status int, got string) {
		t.Helper()
		resp, err := c.post(ctx, "/api/v1/transfers", "tok", key, []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return resp.Status, string(resp.Body)
	}

	for i := range 3 {
		if status, body := post(fmt.Sprint("k", i), `{"n":1}`); status != 201 || body != fmt.Sprintf(`{"id":"trf_k%d"}`, i) {
			t.Errorf("plain: %d %s", status, body)
		}
	}
	if status, body := post("chunked", "x"); status != 201 || body != `{"id":"trf_x"}` {
		t.Errorf("chunked: %d %s", status, body)
	}
	resp, err := c.post(ctx, "/api/v1/transfers", "tok", "problem", []byte(`{}`))
	if err != nil || resp.Status != 422 || resp.Problem == nil || resp.Problem.Code != "insufficient_funds" || resp.Problem.Extra["needed"] != "5.00" {
		t.Errorf("problem: %+v %v", resp, err)
	}
	if n := accepted(); n != 1 {
		t.Errorf("%d connections for five requests, want one kept alive", n)
	}

	// "Connection: close": the answer is read, the next request dials.
	if status, body := post("close", "{}"); status != 201 || body != `{"id":"trf_close"}` {
		t.Errorf("close: %d %s", status, body)
	}
	if status, _ := post("after-close", "{}"); status != 201 || accepted() != 2 {
		t.Errorf("after Connection: close: %d, %d connections", status, accepted())
	}

	// The server drops the connection unannounced: that request fails with
	// no answer, the next one dials again.
	srv.CloseClientConnections()
	if resp, err := c.post(ctx, "/api/v1/transfers", "tok", "dropped", []byte(`{}`)); err == nil || resp != nil {
		t.Errorf("on a dropped connection: %+v %v, want an error and no answer", resp, err)
	}
	if status, _ := post("redial", "{}"); status != 201 || accepted() != 3 {
		t.Errorf("after a dropped connection: %d, %d connections", status, accepted())
	}

	// A cancelled context ends a request the server does not answer.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	if resp, err := c.post(cctx, "/api/v1/transfers", "tok", "hang", []byte(`{}`)); !errors.Is(err, context.Canceled) || resp != nil {
		t.Errorf("cancelled: %+v %v, want context.Canceled", resp, err)
	}
	if status, _ := post("after-cancel", "{}"); status != 201 {
		t.Errorf("after a cancelled request: %d", status)
	}
}

// localAddr is the address the request came to: what the client dialled.
func localAddr(r *http.Request) string {
	return r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
}

// benchConn speaks TLS to an https URL, verifying the server's certificate.
func TestBenchConnTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("not TLS")
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"trf_tls"}`)
	}))
	defer srv.Close()
	c, err := newBenchConn(srv.URL, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.post(context.Background(), "/api/v1/transfers", "tok", "k", []byte(`{}`)); err == nil {
		t.Fatal("a certificate no root vouches for was accepted")
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c.tls.RootCAs = roots
	resp, err := c.post(context.Background(), "/api/v1/transfers", "tok", "k", []byte(`{}`))
	if err != nil || resp.Status != 201 || string(resp.Body) != `{"id":"trf_tls"}` {
		t.Fatalf("%+v %v", resp, err)
	}
}
