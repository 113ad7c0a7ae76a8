package journal

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fiscus/fiscus/internal/ledger"
)

// Bound parameters per statement. SQLite's SQLITE_MAX_VARIABLE_NUMBER is
// 32766 since 3.32 (modernc.org/sqlite ships 3.5x); PostgreSQL's wire
// protocol allows 65535. Multi-row statements are cut into chunks below
// these.
const (
	sqliteMaxParams   = 32766
	postgresMaxParams = 65535
)

func (b *batch) maxParams() int {
	if b.pg {
		return postgresMaxParams
	}
	return sqliteMaxParams
}

// maxChunkRows is the most rows one multi-row statement carries. Rows are
// cut into chunks whose sizes are powers of two up to it (a batch's 62
// postings become statements of 32, 16, 8, 4 and 2 rows), so that the same
// few statement texts recur batch after batch and stay prepared: on SQLite
// in the store's statement cache of the writer connection, on PostgreSQL in
// pgx's per-connection cache. A text seen for the first time costs a parse
// and plan (and on PostgreSQL a round trip) that grows with its size.
const maxChunkRows = 64

// valuesSteps returns head + "(?, …), (?, …)" + suffix for rows, cut into
// chunks of power-of-two sizes (see maxChunkRows) within the parameter
// limit. affected, if set, gets each statement's affected row count.
func (b *batch) valuesSteps(head string, ncols int, rows [][]any, suffix string, affected func(int64) error) []step {
	if len(rows) == 0 {
		return nil
	}
	most := min(maxChunkRows, max(1, b.maxParams()/ncols))
	var out []step
	for start := 0; start < len(rows); {
		n := chunkRows(len(rows)-start, most)
		chunk := rows[start : start+n]
		start += n
		args := make([]any, 0, len(chunk)*ncols)
		for _, r := range chunk {
			args = append(args, r...)
		}
		out = append(out, step{sql: head + placeholders(len(chunk), ncols) + suffix, args: args, affected: affected})
	}
	return out
}

// chunkRows is the size of the next chunk of left rows: the largest power of
// two that is at most left and at most most.
func chunkRows(left, most int) int {
	n := 1
	for n*2 <= min(left, most) {
		n *= 2
	}
	return n
}

// insertHead is the start of a multi-row INSERT into table. On SQLite it
// is INSERT OR FAIL, as in writeSQLite: a row that fails a constraint stops
// the statement without undoing its earlier rows, which the transaction (or
// in careful mode the savepoint) rolls back anyway, and SQLite keeps no
// statement journal for it. A plain INSERT of several rows would copy every
// page it changes into that journal first, to be able to undo itself
// half-way. ON CONFLICT clauses still apply to uniqueness conflicts.
func (b *batch) insertHead(table string, cols []string) string {
	verb := "INSERT OR FAIL INTO "
	if b.pg {
		verb = "INSERT INTO "
	}
	return verb + table + " (" + strings.Join(cols, ", ") + ") VALUES "
}

// rowGroup gathers the rows of one table and column list.
type rowGroup struct {
	table string
	cols  []string
	rows  [][]any
}

func groupRows(rows func(yield func(Row, *plan))) []*rowGroup {
	var out []*rowGroup
	idx := map[string]*rowGroup{}
	rows(func(r Row, p *plan) {
		key := r.Table + "(" + strings.Join(r.Columns, ",") + ")"
		g, ok := idx[key]
		if !ok {
			g = &rowGroup{table: r.Table, cols: r.Columns}
			idx[key] = g
			out = append(out, g)
		}
		g.rows = append(g.rows, r.resolve(p))
	})
	return out
}

// claimSteps insert the claims of the accepted plans with ON CONFLICT DO
// NOTHING, one statement per table and column list. If fewer rows insert
// than were claimed, some operation's claim is taken (or two operations of
// the batch claim the same key) and the steps fail with errCheckFailed,
// which sends the batch to careful mode to find out whose. In a pipeline
// the count is checked by the statement itself (a division by zero aborts
// the transaction before COMMIT runs).
func (b *batch) claimSteps(acc []*plan, pipelined bool) []step {
	groups := groupRows(func(yield func(Row, *plan)) {
		for _, p := range acc {
			for _, c := range p.claims {
				yield(c, p)
			}
		}
	})
	var out []step
	for _, g := range groups {
		if pipelined {
			for _, st := range b.valuesSteps(b.insertHead(g.table, g.cols), len(g.cols), g.rows, " ON CONFLICT DO NOTHING RETURNING 1", nil) {
				want := int64(len(st.args) / len(g.cols))
				st.sql = "WITH c AS (" + st.sql + ") SELECT 1 / (CASE WHEN count(*) = " + fmt.Sprint(want) + " THEN 1 ELSE 0 END) FROM c"
				st.rows = func(rowsIter) error { return nil }
				out = append(out, st)
			}
			continue
		}
		for _, st := range b.valuesSteps(b.insertHead(g.table, g.cols), len(g.cols), g.rows, " ON CONFLICT DO NOTHING", nil) {
			want := int64(len(st.args) / len(g.cols))
			st.affected = func(got int64) error {
				if got != want {
					return errCheckFailed
				}
				return nil
			}
			out = append(out, st)
		}
	}
	return out
}

// updateSteps run the updates of the accepted plans, in queue order, after
// everything else the plans write. If one affects another number of rows
// than it wants, the steps fail with errCheckFailed, which sends the batch
// to careful mode (where the operation at fault is refused with CodeStale).
// In a pipeline the count is checked by the statement itself (see
// checkedStep).
func (b *batch) updateSteps(acc []*plan, pipelined bool) []step {
	var out []step
	for _, p := range acc {
		for _, u := range p.updates {
			out = append(out, checkedStep(u.SQL, resolveValues(u.Args, p), u.Want, pipelined))
		}
	}
	return out
}

// checkedStep runs an UPDATE (or DELETE) that must affect want rows; any
// other count fails it with errCheckFailed. In a pipeline the count is
// checked by the statement itself: it runs inside a WITH whose outer SELECT
// divides by zero when the count is wrong, which aborts the transaction
// before COMMIT.
func checkedStep(sql string, args []any, want int64, pipelined bool) step {
	if pipelined {
		return step{
			sql:  "WITH journal_update AS (" + sql + " RETURNING 1) SELECT 1 / (CASE WHEN count(*) = ? THEN 1 ELSE 0 END) FROM journal_update",
			args: append(args[:len(args):len(args)], want),
			rows: func(rowsIter) error { return nil },
		}
	}
	return step{sql: sql, args: args, affected: func(got int64) error {
		if got != want {
			return errCheckFailed
		}
		return nil
	}}
}

// pgDivisionByZero is the SQLSTATE of a pipelined claim or update count
// check that failed.
const pgDivisionByZero = "22012"

// ledgerRows are the ledger rows of some accepted plans, column by column.
type ledgerRows struct {
	// entries
	eID, eKind, eMemo, eMeta, eRev []string
	eAt                            []int64
	// postings
	pEntry, pAccount, pAsset []string
	pIdx                     []int32
	pAmount, pAfter, pAt     []int64
	// balances: the final value of every changed pair
	bAccount, bAsset []string
	bPosted, bHeld   []int64
	bExists          []bool // the row exists (SQLite: UPDATE it, else INSERT)
	// holds to insert (new) and to update (transitions of existing rows)
	newHolds, changedHolds []holdState
}

func (b *batch) collectRows(acc []*plan) (*ledgerRows, error) {
	lr := &ledgerRows{}
	final := map[pairKey]int{}
	holdAt := map[string]int{}
	var holds []holdState
	for _, p := range acc {
		if e := p.entry; e != nil {
			meta := "{}"
			if len(e.Metadata) > 0 {
				raw, err := json.Marshal(e.Metadata)
				if err != nil {
					return nil, fmt.Errorf("entry %s metadata: %w", e.ID, err)
				}
				meta = string(raw)
			}
			lr.eID = append(lr.eID, e.ID)
			lr.eKind = append(lr.eKind, p.kind)
			lr.eMemo = append(lr.eMemo, e.Memo)
			lr.eMeta = append(lr.eMeta, meta)
			lr.eRev = append(lr.eRev, e.ReversalOf)
			lr.eAt = append(lr.eAt, p.now)
			for j, ps := range e.Postings {
				lr.pEntry = append(lr.pEntry, e.ID)
				lr.pIdx = append(lr.pIdx, int32(j))
				lr.pAccount = append(lr.pAccount, ps.Account)
				lr.pAsset = append(lr.pAsset, ps.Amount.Asset().Code())
				lr.pAmount = append(lr.pAmount, ps.Amount.Units())
				lr.pAfter = append(lr.pAfter, p.after[j])
				lr.pAt = append(lr.pAt, p.now)
			}
		}
		for _, bal := range p.balances {
			k := pairKey{bal.Account, bal.Asset}
			if i, ok := final[k]; ok {
				lr.bPosted[i], lr.bHeld[i] = bal.Posted, bal.Held
				continue
			}
			final[k] = len(lr.bAccount)
			lr.bAccount = append(lr.bAccount, bal.Account)
			lr.bAsset = append(lr.bAsset, bal.Asset.Code())
			lr.bPosted = append(lr.bPosted, bal.Posted)
			lr.bHeld = append(lr.bHeld, bal.Held)
			lr.bExists = append(lr.bExists, b.base[k].exists)
		}
		if h := p.hold; h != nil {
			if i, ok := holdAt[h.hold.ID]; ok {
				inDB := holds[i].inDB // a hold created in this batch is inserted in its final state
				holds[i] = *h
				holds[i].inDB = inDB
				continue
			}
			holdAt[h.hold.ID] = len(holds)
			holds = append(holds, *h)
		}
	}
	for _, h := range holds {
		if h.inDB {
			lr.changedHolds = append(lr.changedHolds, h)
		} else {
			lr.newHolds = append(lr.newHolds, h)
		}
	}
	return lr, nil
}

// writeSteps insert the entries, postings and holds of the accepted plans,
// store their final balances and insert their extra rows.
func (b *batch) writeSteps(acc []*plan) ([]step, error) {
	if len(acc) == 0 {
		return nil, nil
	}
	lr, err := b.collectRows(acc)
	if err != nil {
		return nil, err
	}
	var out []step
	if b.pg {
		out = b.writePostgres(lr)
	} else {
		out = b.writeSQLite(lr)
	}
	out = append(out, b.counterWrites(acc)...)
	for _, g := range groupRows(func(yield func(Row, *plan)) {
		for _, p := range acc {
			for _, r := range p.rows {
				yield(r, p)
			}
		}
	}) {
		if ch := b.chains.chainFor(g.table, g.cols); ch != nil {
			if err := link(ch, g); err != nil {
				return nil, err
			}
		}
		out = append(out, b.valuesSteps(b.insertHead(g.table, g.cols), len(g.cols), g.rows, "", nil)...)
	}
	return out, nil
}

// link numbers the rows of g with ch, in order, adding ch's columns.
func link(ch Chain, g *rowGroup) error {
	g.cols = append(g.cols[:len(g.cols):len(g.cols)], ch.Columns()...)
	for i, r := range g.rows {
		vals, err := ch.Link(r)
		if err != nil {
			return fmt.Errorf("chain %s: %w", ch.Table(), err)
		}
		g.rows[i] = append(r[:len(r):len(r)], vals...)
	}
	return nil
}

// counterWrites store the totals the accepted plans leave their counters
// with, one row per key (an upsert: on SQLite the row may not exist; on
// PostgreSQL the load made it exist). A row keeps the latest expiry any
// operation gave it.
func (b *batch) counterWrites(acc []*plan) []step {
	var keys []string
	var values, expires []int64
	var at map[string]int
	for _, p := range acc {
		if len(p.counters) > 0 && at == nil {
			at = map[string]int{}
		}
		for _, c := range p.counters {
			if i, ok := at[c.key]; ok {
				values[i], expires[i] = c.value, max(expires[i], c.expires)
				continue
			}
			at[c.key] = len(keys)
			keys, values, expires = append(keys, c.key), append(values, c.value), append(expires, c.expires)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if b.pg {
		return []step{{sql: `INSERT INTO ledger_counters (key, value, expires_at)
			SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[])
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = GREATEST(ledger_counters.expires_at, excluded.expires_at)`,
			args: []any{keys, values, expires}}}
	}
	rows := make([][]any, len(keys))
	for i := range keys {
		rows[i] = []any{keys[i], values[i], expires[i]}
	}
	return b.valuesSteps("INSERT INTO ledger_counters (key, value, expires_at) VALUES ", 3, rows,
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = max(ledger_counters.expires_at, excluded.expires_at)", nil)
}

// pgWrite writes a batch's ledger rows in one round trip: every column is
// one array parameter, so the statement text never changes and stays
// prepared. Balance rows all exist (see ensure), so they are updated.
// The foreign keys from postings and holds to entries are checked at the
// end of the statement, after every sub-statement ran.
const pgWrite = `WITH
e AS (INSERT INTO entries (id, kind, memo, metadata, reversal_of, created_at)
	SELECT id, kind, memo, metadata, NULLIF(rev, ''), at
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[]) AS u(id, kind, memo, metadata, rev, at)),
p AS (INSERT INTO postings (entry_id, idx, account_id, asset, amount, balance_after, created_at)
	SELECT * FROM unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[])),
b AS (UPDATE balances AS t SET posted = u.posted, held = u.held
	FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[]) AS u(account_id, asset, posted, held)
	WHERE t.account_id = u.account_id AND t.asset = u.asset),
hn AS (INSERT INTO holds (id, account_id, destination_id, asset, amount, status, deadline, posted, entry_id, created_at, resolved_at)
	SELECT id, acct, dest, asset, amount, status, deadline, posted, NULLIF(ent, ''), created, resolved
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[])
		AS u(id, acct, dest, asset, amount, status, deadline, posted, ent, created, resolved))
UPDATE holds AS t SET status = u.status, posted = u.posted, entry_id = NULLIF(u.ent, ''), resolved_at = u.resolved
FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[]) AS u(id, status, posted, ent, resolved)
WHERE t.id = u.id`

// pgWriteLedger is pgWrite for batches without hold changes (the common
// transfer batch): the same, minus two empty sub-statements.
const pgWriteLedger = `WITH
e AS (INSERT INTO entries (id, kind, memo, metadata, reversal_of, created_at)
	SELECT id, kind, memo, metadata, NULLIF(rev, ''), at
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[]) AS u(id, kind, memo, metadata, rev, at)),
p AS (INSERT INTO postings (entry_id, idx, account_id, asset, amount, balance_after, created_at)
	SELECT * FROM unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[]))
UPDATE balances AS t SET posted = u.posted, held = u.held
FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[]) AS u(account_id, asset, posted, held)
WHERE t.account_id = u.account_id AND t.asset = u.asset`

func (b *batch) writePostgres(lr *ledgerRows) []step {
	args := []any{
		nonNil(lr.eID), nonNil(lr.eKind), nonNil(lr.eMemo), nonNil(lr.eMeta), nonNil(lr.eRev), nonNil(lr.eAt),
		nonNil(lr.pEntry), nonNil(lr.pIdx), nonNil(lr.pAccount), nonNil(lr.pAsset), nonNil(lr.pAmount), nonNil(lr.pAfter), nonNil(lr.pAt),
		nonNil(lr.bAccount), nonNil(lr.bAsset), nonNil(lr.bPosted), nonNil(lr.bHeld),
	}
	q := pgWriteLedger
	if len(lr.newHolds)+len(lr.changedHolds) > 0 {
		q = pgWrite
		n := len(lr.newHolds)
		id, acct, dest, asset, status, ent := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount, deadline, posted, created, resolved := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, h := range lr.newHolds {
			id[i], acct[i], dest[i], asset[i] = h.hold.ID, h.hold.Account, h.hold.Destination, h.hold.Amount.Asset().Code()
			status[i], ent[i] = string(h.hold.Status), h.hold.EntryID
			amount[i], deadline[i], posted[i] = h.hold.Amount.Units(), micros0(h.hold.Deadline), h.hold.Posted
			created[i], resolved[i] = h.createdAt, h.resolvedAt
		}
		m := len(lr.changedHolds)
		uid, ustatus, uent := make([]string, m), make([]string, m), make([]string, m)
		uposted, uresolved := make([]int64, m), make([]int64, m)
		for i, h := range lr.changedHolds {
			uid[i], ustatus[i], uent[i] = h.hold.ID, string(h.hold.Status), h.hold.EntryID
			uposted[i], uresolved[i] = h.hold.Posted, h.resolvedAt
		}
		args = append(args, id, acct, dest, asset, amount, status, deadline, posted, ent, created, resolved,
			uid, ustatus, uposted, uent, uresolved)
	}
	return []step{{sql: q, args: args}}
}

// nonNil turns a nil slice into an empty one, so it binds as an empty array
// rather than NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeSQLite writes a batch's ledger rows with multi-row statements. They
// are INSERT OR FAIL and UPDATE OR FAIL: a failing row stops the statement
// without undoing its earlier rows, which is all the same to us (the
// transaction, or in careful mode the savepoint, is rolled back on any
// error), and it spares SQLite the statement journal it would otherwise
// keep to undo a multi-row statement half-way.
func (b *batch) writeSQLite(lr *ledgerRows) []step {
	var out []step
	rows := make([][]any, len(lr.eID))
	for i := range lr.eID {
		var rev any
		if lr.eRev[i] != "" {
			rev = lr.eRev[i]
		}
		rows[i] = []any{lr.eID[i], lr.eKind[i], lr.eMemo[i], lr.eMeta[i], rev, lr.eAt[i]}
	}
	out = append(out, b.valuesSteps("INSERT OR FAIL INTO entries (id, kind, memo, metadata, reversal_of, created_at) VALUES ", 6, rows, "", nil)...)
	rows = make([][]any, len(lr.pEntry))
	for i := range lr.pEntry {
		rows[i] = []any{lr.pEntry[i], lr.pIdx[i], lr.pAccount[i], lr.pAsset[i], lr.pAmount[i], lr.pAfter[i], lr.pAt[i]}
	}
	out = append(out, b.valuesSteps("INSERT OR FAIL INTO postings (entry_id, idx, account_id, asset, amount, balance_after, created_at) VALUES ", 7, rows, "", nil)...)
	var upd, ins [][]any
	for i := range lr.bAccount {
		r := []any{lr.bAccount[i], lr.bAsset[i], lr.bPosted[i], lr.bHeld[i]}
		if lr.bExists[i] {
			upd = append(upd, r)
		} else {
			ins = append(ins, r)
		}
	}
	for _, st := range b.valuesSteps("WITH u(account_id, asset, posted, held) AS (VALUES ", 4, upd,
		") UPDATE OR FAIL balances SET posted = u.posted, held = u.held FROM u WHERE balances.account_id = u.account_id AND balances.asset = u.asset", nil) {
		want := int64(len(st.args) / 4)
		st.affected = func(n int64) error {
			if n != want {
				return fmt.Errorf("updated %d balances, want %d", n, want)
			}
			return nil
		}
		out = append(out, st)
	}
	out = append(out, b.valuesSteps("INSERT OR FAIL INTO balances (account_id, asset, posted, held) VALUES ", 4, ins, "", nil)...)
	rows = make([][]any, len(lr.newHolds))
	for i, h := range lr.newHolds {
		rows[i] = []any{h.hold.ID, h.hold.Account, h.hold.Destination, h.hold.Amount.Asset().Code(), h.hold.Amount.Units(),
			string(h.hold.Status), micros0(h.hold.Deadline), h.hold.Posted, nullIfEmpty(h.hold.EntryID), h.createdAt, h.resolvedAt}
	}
	out = append(out, b.valuesSteps("INSERT OR FAIL INTO holds (id, account_id, destination_id, asset, amount, status, deadline, posted, entry_id, created_at, resolved_at) VALUES ", 11, rows, "", nil)...)
	// Hold transitions are rare next to postings and cost no round trip on
	// SQLite: one UPDATE each.
	for _, h := range lr.changedHolds {
		out = append(out, step{sql: `UPDATE holds SET status = ?, posted = ?, entry_id = ?, resolved_at = ? WHERE id = ?`,
			args: []any{string(h.hold.Status), h.hold.Posted, nullIfEmpty(h.hold.EntryID), h.resolvedAt, h.hold.ID}})
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var _ ledger.View = (*batch)(nil)
