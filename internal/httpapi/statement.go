package httpapi

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

type statementLineView struct {
	EntryID      string    `json:"entry_id"`
	Kind         string    `json:"kind"`
	Memo         string    `json:"memo"`
	ReversalOf   *string   `json:"reversal_of"`
	Amount       int64     `json:"amount"`
	BalanceAfter int64     `json:"balance_after"`
	At           time.Time `json:"at"`
}

type statementView struct {
	AccountID      string              `json:"account_id"`
	Asset          string              `json:"asset"`
	OpeningBalance int64               `json:"opening_balance"`
	Data           []statementLineView `json:"data"`
	NextCursor     *string             `json:"next_cursor"`
}

// handleStatement answers a page of an account's statement as JSON, or with
// ?format=csv the whole selected period as a streamed CSV file.
func (s *Server) handleStatement(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fault.Invalidf("query", "malformed", "the query string is not valid URL encoding")
	}
	accountID := r.PathValue("id")
	sq := accounts.StatementQuery{Asset: q.Get("asset"), Cursor: q.Get("cursor")}
	if sq.From, err = timeParam(q, "from", false); err != nil {
		return err
	}
	if sq.To, err = timeParam(q, "to", true); err != nil {
		return err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > accounts.MaxStatementLimit {
			return fault.Invalidf("limit", "out_of_range", "must be an integer from 1 to %d", accounts.MaxStatementLimit)
		}
		sq.Limit = n
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return fault.Invalidf("format", "invalid", "must be json or csv")
	}
	owner, err := s.readableAccount(r, accountID)
	if err != nil {
		return err
	}
	if format == "csv" {
		return s.streamStatementCSV(w, r, owner, accountID, sq)
	}
	st, err := s.accounts.Statement(r.Context(), owner, accountID, sq)
	if err != nil {
		return err
	}
	out := statementView{AccountID: st.AccountID, Asset: st.Asset, OpeningBalance: st.OpeningBalance,
		Data: make([]statementLineView, 0, len(st.Lines)), NextCursor: nextCursor(st.NextCursor)}
	for _, l := range st.Lines {
		lv := statementLineView{EntryID: l.EntryID, Kind: l.Kind, Memo: l.Memo, Amount: l.Amount, BalanceAfter: l.BalanceAfter, At: l.At}
		if l.ReversalOf != "" {
			lv.ReversalOf = &l.ReversalOf
		}
		out.Data = append(out.Data, lv)
	}
	return writeJSON(w, http.StatusOK, out)
}

// streamStatementCSV writes every line of the period, page by page, so a
// long history never sits in memory. The first page is read before the
// headers are sent, so a bad request still gets a problem document; an
// error after that cuts the response short (the client sees a truncated
// download, never a partial file that looks complete: the last line is a
// trailer naming the line count).
func (s *Server) streamStatementCSV(w http.ResponseWriter, r *http.Request, owner, accountID string, q accounts.StatementQuery) error {
	if q.Cursor != "" {
		return fault.Invalidf("cursor", "invalid", "a CSV export covers the whole period; it takes no cursor")
	}
	q.Limit = accounts.MaxStatementLimit
	st, err := s.accounts.Statement(r.Context(), owner, accountID, q)
	if err != nil {
		return err
	}
	asset, err := assetOf(st.Asset)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statement-`+accountID+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"at", "entry_id", "kind", "memo", "reversal_of", "amount", "balance_after", "asset", "amount_minor", "balance_after_minor"})
	lines := 0
	for {
		for _, l := range st.Lines {
			_ = cw.Write([]string{
				l.At.Format(time.RFC3339Nano), l.EntryID, l.Kind, csvSafe(l.Memo), l.ReversalOf,
				money.New(l.Amount, asset).Format(), money.New(l.BalanceAfter, asset).Format(), st.Asset,
				strconv.FormatInt(l.Amount, 10), strconv.FormatInt(l.BalanceAfter, 10),
			})
			lines++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			s.abort(r, err)
		}
		if st.NextCursor == "" {
			break
		}
		q.Cursor = st.NextCursor
		if st, err = s.accounts.Statement(r.Context(), owner, accountID, q); err != nil {
			s.abort(r, err)
		}
	}
	_ = cw.Write([]string{"# end of statement", strconv.Itoa(lines) + " lines"})
	cw.Flush()
	return nil
}

// csvSafe defuses spreadsheet formula injection: a cell a spreadsheet would
// evaluate (starting with = + - @, tab or carriage return) is prefixed with
// an apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// assetOf resolves a statement's asset code (a currency or a listed symbol).
func assetOf(code string) (money.Asset, error) {
	if a, err := money.Currency(code); err == nil {
		return a, nil
	}
	return money.Security(code)
}

// abort ends a response whose headers are already sent: the error is logged
// and the connection cut, so the client sees a broken transfer instead of a
// body that looks complete.
func (s *Server) abort(r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "response aborted", "err", err, "method", r.Method, "path", r.URL.Path)
	panic(http.ErrAbortHandler)
}
