package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// IdempotencyHeader carries the key of a money-moving POST.
const IdempotencyHeader = "Idempotency-Key"

// maxListPages bounds how many pages the List helpers follow.
const maxListPages = 10_000

// NewWithHTTP returns a client that sends through hc, which callers share
// between clients to reuse connections (the load tool runs many signed-in
// clients over one transport). It has no cookie jar of its own: bearer tokens
// only.
func NewWithHTTP(baseURL string, hc *http.Client) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: hc, Header: http.Header{}}
}

// Account is an account resource. Amounts are integer minor units.
type Account struct {
	ID               string `json:"id"`
	OwnerID          string `json:"owner_id"`
	Type             string `json:"type"`
	Name             string `json:"name"`
	Currency         string `json:"currency"`
	Balance          int64  `json:"balance"`
	AvailableBalance int64  `json:"available_balance"`
	CreditLimit      int64  `json:"credit_limit"`
	Status           string `json:"status"`
	CreatedAt        string `json:"created_at"`
}

// OpenAccount is the body of POST /accounts.
type OpenAccount struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Currency    string `json:"currency"`
	CreditLimit int64  `json:"credit_limit,omitempty"`
}

// Adjustment is the body of POST /admin/adjustments: a signed amount in minor
// units credited to (positive) or debited from (negative) the account against
// the external funding account.
type Adjustment struct {
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Memo      string `json:"memo,omitempty"`
}

// CashTransfer is the body of POST /transfers for kind "cash". Exactly one
// of ToAccountID and ToEmail is set. Amount is in minor units.
type CashTransfer struct {
	Kind          string `json:"kind"`
	FromAccountID string `json:"from_account_id"`
	ToAccountID   string `json:"to_account_id,omitempty"`
	ToEmail       string `json:"to_email,omitempty"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Memo          string `json:"memo,omitempty"`
}

// Transfer is a transfer resource (kinds "cash", "shares", "adjustment").
// The maker's view adds the balance their transfer left on BalanceAccountID.
type Transfer struct {
	ID                    string `json:"id"`
	Kind                  string `json:"kind"`
	Status                string `json:"status"`
	FromAccountID         string `json:"from_account_id"`
	ToAccountID           string `json:"to_account_id"`
	Amount                int64  `json:"amount"`
	Currency              string `json:"currency"`
	Memo                  string `json:"memo"`
	EntryID               string `json:"entry_id"` // "" until executed
	MakerID               string `json:"maker_id"`
	CreatedAt             string `json:"created_at"`
	UpdatedAt             string `json:"updated_at"`
	ExecutedAt            string `json:"executed_at"`
	BalanceAccountID      string `json:"balance_account_id"`
	BalanceAfter          *int64 `json:"balance_after"`
	AvailableBalanceAfter *int64 `json:"available_balance_after"`
}

// LedgerReport is the answer of POST /admin/ledger/verify.
type LedgerReport struct {
	OK         bool              `json:"ok"`
	Accounts   int64             `json:"accounts"`
	Balances   int64             `json:"balances"`
	Entries    int64             `json:"entries"`
	Postings   int64             `json:"postings"`
	Holds      int64             `json:"holds"`
	Violations []LedgerViolation `json:"violations"`
	Truncated  int               `json:"truncated"` // violations found beyond those listed
}

// LedgerViolation is one broken ledger invariant.
type LedgerViolation struct {
	Rule      string `json:"rule"`
	AccountID string `json:"account_id,omitempty"`
	Asset     string `json:"asset,omitempty"`
	EntryID   string `json:"entry_id,omitempty"`
	HoldID    string `json:"hold_id,omitempty"`
	Expected  *int64 `json:"expected,omitempty"` // minor units
	Actual    *int64 `json:"actual,omitempty"`
	Detail    string `json:"detail"`
}

func (v LedgerViolation) String() string {
	var b strings.Builder
	b.WriteString(v.Rule)
	for _, f := range []struct{ k, v string }{
		{"account", v.AccountID}, {"asset", v.Asset}, {"entry", v.EntryID}, {"hold", v.HoldID},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	if v.Expected != nil && v.Actual != nil {
		fmt.Fprintf(&b, " expected=%d actual=%d", *v.Expected, *v.Actual)
	}
	if v.Detail != "" {
		b.WriteString(": " + v.Detail)
	}
	return b.String()
}

// PostIdempotent is Do with POST, a JSON body and an Idempotency-Key. Pass
// the body as []byte to send exactly the same bytes on a retry.
func (c *Client) PostIdempotent(ctx context.Context, path, key string, body any) (*Response, error) {
	return c.Do(ctx, Request{Method: http.MethodPost, Path: path, Body: body, Header: http.Header{IdempotencyHeader: {key}}})
}

// Register creates a customer. The response is 201 with the user.
func (c *Client) Register(ctx context.Context, email, password, name string) (*Response, error) {
	return c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": email, "password": password, "name": name})
}

// decodeOn decodes resp into v when its status is want.
func decodeOn[T any](resp *Response, err error, want int) (T, *Response, error) {
	var v T
	if err != nil {
		return v, resp, err
	}
	if resp.Status == want {
		if err := resp.Decode(&v); err != nil {
			return v, resp, fmt.Errorf("decode %d response: %w", resp.Status, err)
		}
	}
	return v, resp, nil
}

// OpenAccount opens an account for the signed-in customer (201).
func (c *Client) OpenAccount(ctx context.Context, in OpenAccount) (Account, *Response, error) {
	resp, err := c.Post(ctx, "/api/v1/accounts", in)
	return decodeOn[Account](resp, err, http.StatusCreated)
}

// Account reads one account (200).
func (c *Client) Account(ctx context.Context, id string) (Account, *Response, error) {
	resp, err := c.Get(ctx, "/api/v1/accounts/"+url.PathEscape(id))
	return decodeOn[Account](resp, err, http.StatusOK)
}

// Adjust posts an admin adjustment under an idempotency key (201).
func (c *Client) Adjust(ctx context.Context, key string, in Adjustment) (Transfer, *Response, error) {
	resp, err := c.PostIdempotent(ctx, "/api/v1/admin/adjustments", key, in)
	return decodeOn[Transfer](resp, err, http.StatusCreated)
}

// CreateTransfer posts a transfer under an idempotency key (201, or 202 when
// it waits on someone). body is a CashTransfer or its exact JSON bytes.
func (c *Client) CreateTransfer(ctx context.Context, key string, body any) (Transfer, *Response, error) {
	resp, err := c.PostIdempotent(ctx, "/api/v1/transfers", key, body)
	if err != nil {
		return Transfer{}, resp, err
	}
	if resp.Status == http.StatusAccepted {
		return decodeOn[Transfer](resp, nil, http.StatusAccepted)
	}
	return decodeOn[Transfer](resp, nil, http.StatusCreated)
}

// Transfer reads one transfer (200; 404 when the caller cannot see it).
func (c *Client) Transfer(ctx context.Context, id string) (Transfer, *Response, error) {
	resp, err := c.Get(ctx, "/api/v1/transfers/"+url.PathEscape(id))
	return decodeOn[Transfer](resp, err, http.StatusOK)
}

// page is one page of a list.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// listAll follows next_cursor from path (which may carry a query) and
// returns every item; a non-200 page is an error naming its problem.
func listAll[T any](ctx context.Context, c *Client, path string, query url.Values) ([]T, error) {
	var all []T
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for range maxListPages {
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		resp, err := c.Get(ctx, p)
		if err != nil {
			return all, err
		}
		if resp.Status != http.StatusOK {
			return all, fmt.Errorf("GET %s: %s", p, resp.Describe())
		}
		var pg page[T]
		if err := json.Unmarshal(resp.Body, &pg); err != nil {
			return all, fmt.Errorf("GET %s: %w", p, err)
		}
		all = append(all, pg.Data...)
		if pg.NextCursor == nil || *pg.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", *pg.NextCursor)
	}
	return all, fmt.Errorf("GET %s: more than %d pages", path, maxListPages)
}

// Accounts lists the caller's accounts, every page.
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	return listAll[Account](ctx, c, "/api/v1/accounts", nil)
}

// Transfers lists the transfers the caller can see, every page; query may
// carry limit, status and account_id.
func (c *Client) Transfers(ctx context.Context, query url.Values) ([]Transfer, error) {
	return listAll[Transfer](ctx, c, "/api/v1/transfers", query)
}

// VerifyLedger asks the server to check every ledger invariant (admin).
func (c *Client) VerifyLedger(ctx context.Context) (LedgerReport, *Response, error) {
	resp, err := c.Post(ctx, "/api/v1/admin/ledger/verify", nil)
	return decodeOn[LedgerReport](resp, err, http.StatusOK)
}

// Describe is a short description of a response for error messages: the
// problem's status, code and detail, else the status and the start of the
// body.
func (r *Response) Describe() string {
	if r.Problem != nil {
		return r.Problem.Error()
	}
	body := r.Body
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("%d %s", r.Status, body)
}
