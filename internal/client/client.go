// Package client is a small Go client for the Fiscus HTTP API, used by the
// end-to-end tests and the load tool the way any API user would talk to the
// server: JSON over HTTP with bearer tokens or the web session cookie.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"
)

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 16 << 20

// Client talks to one Fiscus server.
type Client struct {
	BaseURL string
	HTTP    *http.Client
	// Token is sent as "Authorization: Bearer <Token>" when set.
	Token string
	// CSRF is sent as X-CSRF-Token on unsafe requests when set (cookie sessions).
	CSRF string
	// Header is added to every request.
	Header http.Header
}

// New returns a client with a cookie jar and a timeout.
func New(baseURL string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		HTTP:    &http.Client{Timeout: 30 * time.Second, Jar: jar},
		Header:  http.Header{},
	}
}

// Response is a decoded response.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Problem *Problem // set when the response is application/problem+json
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string           `json:"type"`
	Title     string           `json:"title"`
	Status    int              `json:"status"`
	Detail    string           `json:"detail"`
	Code      string           `json:"code"`
	RequestID string           `json:"request_id"`
	Errors    []map[string]any `json:"errors"`
	Extra     map[string]any   `json:"-"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Request describes one call.
type Request struct {
	Method string
	Path   string
	Body   any // marshalled as JSON unless it is []byte or nil
	Header http.Header
}

// Do sends a request and reads the whole response. Non-2xx statuses are not
// errors here; callers inspect Status and Problem.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, c.BaseURL+req.Path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	for k, vs := range c.Header {
		hr.Header[k] = vs
	}
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.CSRF != "" && req.Method != http.MethodGet && req.Method != http.MethodHead {
		hr.Header.Set("X-CSRF-Token", c.CSRF)
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		return nil, err
	}
	return ReadResponse(resp)
}

// ReadResponse reads and closes resp's body into a Response, decoding a
// problem document. Do uses it; so can a caller with a transport of its own.
func ReadResponse(resp *http.Response) (*Response, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p Problem
		if err := json.Unmarshal(raw, &p); err != nil {
			return out, fmt.Errorf("malformed problem document: %w", err)
		}
		_ = json.Unmarshal(raw, &p.Extra)
		out.Problem = &p
	}
	return out, nil
}

// Get is Do with GET.
func (c *Client) Get(ctx context.Context, path string) (*Response, error) {
	return c.Do(ctx, Request{Method: http.MethodGet, Path: path})
}

// Post is Do with POST and a JSON body.
func (c *Client) Post(ctx context.Context, path string, body any) (*Response, error) {
	return c.Do(ctx, Request{Method: http.MethodPost, Path: path, Body: body})
}

// Tokens is a bearer login's answer.
type Tokens struct {
	AccessToken  string         `json:"access_token"`
	RefreshToken string         `json:"refresh_token"`
	TokenType    string         `json:"token_type"`
	ExpiresIn    int64          `json:"expires_in"`
	SessionID    string         `json:"session_id"`
	User         map[string]any `json:"user"`
	MFARequired  bool           `json:"mfa_required"`
	MFAToken     string         `json:"mfa_token"`
}

// Login signs in with email and password and, on a 200, starts using the
// access token. A 2FA user gets MFARequired and an MFAToken instead.
func (c *Client) Login(ctx context.Context, email, password string) (Tokens, *Response, error) {
	resp, err := c.Post(ctx, "/api/v1/auth/login", map[string]any{"email": email, "password": password})
	if err != nil {
		return Tokens{}, nil, err
	}
	var t Tokens
	if resp.Status == http.StatusOK || resp.Status == http.StatusAccepted {
		if err := resp.Decode(&t); err != nil {
			return Tokens{}, resp, err
		}
	}
	if resp.Status == http.StatusOK {
		c.Token = t.AccessToken
	}
	return t, resp, nil
}
