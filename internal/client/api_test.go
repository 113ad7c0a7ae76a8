package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Transfers follows next_cursor to the last page, keeping the caller's query
// on every page, and a non-200 page is an error naming its problem.
func TestTransfersFollowsCursors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/transfers" || r.URL.Query().Get("account_id") != "acct_1" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("request %s %q", r.URL, r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(w, `{"data":[{"id":"trf_1","amount":5},{"id":"trf_2","amount":7}],"next_cursor":"c2"}`)
		case "c2":
			fmt.Fprint(w, `{"data":[{"id":"trf_3","amount":11}],"next_cursor":"c3"}`)
		case "c3":
			fmt.Fprint(w, `{"data":[],"next_cursor":null}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"status":422,"code":"validation_failed","detail":"bad cursor"}`)
		}
	}))
	defer srv.Close()
	c := NewWithHTTP(srv.URL+"/", srv.Client())
	c.Token = "tok"
	list, err := c.Transfers(context.Background(), map[string][]string{"account_id": {"acct_1"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range list {
		ids = append(ids, fmt.Sprintf("%s:%d", tr.ID, tr.Amount))
	}
	if got := strings.Join(ids, " "); got != "trf_1:5 trf_2:7 trf_3:11" {
		t.Errorf("listed %s", got)
	}
	_, err = c.Transfers(context.Background(), map[string][]string{"account_id": {"acct_1"}, "cursor": {"bad"}})
	if err == nil || !strings.Contains(err.Error(), "422 validation_failed: bad cursor") {
		t.Errorf("bad page: %v", err)
	}
}

func TestLedgerViolationString(t *testing.T) {
	t.Parallel()
	exp, act := int64(100), int64(101)
	v := LedgerViolation{Rule: "cached_balance", AccountID: "acct_1", Asset: "USD", Expected: &exp, Actual: &act, Detail: "differs"}
	if got, want := v.String(), "cached_balance account=acct_1 asset=USD expected=100 actual=101: differs"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
