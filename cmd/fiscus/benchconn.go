package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fiscus/fiscus/internal/client"
)

// benchConn is one load client's keep-alive HTTP/1.1 connection. A load
// client waits for each answer before it sends the next request, so
// benchConn writes the request and reads the response on the caller's
// goroutine: net/http's transport would run a reader and a writer goroutine
// per connection and hand every request and response between the three,
// wake-ups that cost the load tool more CPU than the request itself on a
// machine it shares with the server. Responses are parsed by net/http
// (http.ReadResponse), so content length, chunked bodies and "Connection:
// close" are handled as any client handles them. After an error the
// connection is closed and the next request dials again.
type benchConn struct {
	addr    string // host:port to dial
	host    string // the Host header
	tls     *tls.Config
	prefix  string // the URL's path, before /api/v1/...
	timeout time.Duration

	conn net.Conn
	r    *bufio.Reader
	req  []byte // the request being written, reused
}

// newBenchConn returns a connection (dialled on first use) to the server
// at base, a URL checked by checkBenchURL.
func newBenchConn(base string, timeout time.Duration) (*benchConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	c := &benchConn{host: u.Host, prefix: u.Path, timeout: timeout, addr: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		c.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		c.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// post sends POST path with a JSON body, a bearer token and an
// Idempotency-Key, and reads the whole answer. Like client.Client.Do it
// returns non-2xx answers as responses; an error means no answer was read
// (the request may still have been applied).
func (c *benchConn) post(ctx context.Context, path, token, key string, body []byte) (*client.Response, error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, err
	}
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.roundTrip(path, token, key, body)
	if !stop() || err != nil {
		c.Close()
		if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
			err = errors.Join(ctxErr, err)
		}
	}
	return resp, err
}

func (c *benchConn) roundTrip(path, token, key string, body []byte) (*client.Response, error) {
	b := append(c.req[:0], "POST "...)
	b = append(b, c.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	b = append(b, "\r\nContent-Type: application/json\r\nAccept: application/json\r\n"...)
	b = append(b, client.IdempotencyHeader+": "...)
	b = append(b, key...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.req = b
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	hr, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	keep := !hr.Close
	resp, err := client.ReadResponse(hr) // reads the body to its end
	if resp == nil {
		return nil, err
	}
	if !keep {
		c.Close()
	}
	return resp, err
}

func (c *benchConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: benchDialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("tls handshake with %s: %w", c.addr, err)
		}
		conn = tc
	}
	c.conn, c.r = conn, bufio.NewReaderSize(conn, 8<<10)
	return nil
}

// Close closes the connection, if one is open.
func (c *benchConn) Close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
