package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

// in returns a condition "column is one of ids" and its one argument, as a
// fixed statement text whatever the number of IDs (so prepared statements
// are reused): an array on PostgreSQL, a JSON array on SQLite.
func (b *batch) in(column string, ids []string) (string, any) {
	if b.pg {
		return column + " = ANY(?::text[])", ids
	}
	return column + " IN (SELECT value FROM json_each(?))", jsonArray(ids)
}

func jsonArray(ids []string) string {
	raw, _ := json.Marshal(ids) // []string always marshals
	return string(raw)
}

// forUpdate is the locking clause on PostgreSQL; SQLite's single writer
// connection already serializes writers.
func (b *batch) forUpdate(orderBy string) string {
	if b.pg {
		return " ORDER BY " + orderBy + " FOR UPDATE"
	}
	return ""
}

// load reads what the batch's operations need, in two phases: the holds
// and entries they name (phase 1, only for hold operations and reversals),
// then every balance and account they may touch and the counters they
// name (phase 2). prefix (BEGIN, for a pipelined transaction) goes with the
// first phase sent.
//
// On PostgreSQL the rows are locked in one global order, the same in every
// batch of every replica: holds (by ID), entries to reverse (by ID),
// balances (by account and asset), counters (by key). A batch that waits
// for a lock therefore never holds one that its holder will wait for.
func (b *batch) load(ctx context.Context, ex executor, prefix []step) error {
	b.accounts = map[string]ledger.Account{}
	b.base = map[pairKey]baseBalance{}
	b.holdsBase = map[string]holdState{}
	b.entriesBase = map[string]entryState{}
	b.countersBase = map[string]int64{}
	b.countersMade = nil
	b.chains.reset()
	if p1 := b.phase1(); len(p1) > 0 {
		if err := ex.run(ctx, append(prefix, p1...)); err != nil {
			return fmt.Errorf("load holds and entries: %w", err)
		}
		prefix = nil
	}
	steps := append(prefix, b.phase2()...)
	steps = append(steps, b.counterSteps()...)
	chained := b.chains.wanted(b.reqs)
	if chained {
		// Last: on PostgreSQL the heads are locked after everything else
		// the load locks (see Lock order).
		steps = append(steps, b.chains.headSteps(b.pg)...)
	}
	if err := ex.run(ctx, steps); err != nil {
		return fmt.Errorf("load balances: %w", err)
	}
	if chained {
		return b.chains.begin()
	}
	return nil
}

// phase1 reads (on PostgreSQL: locks, by ID) the holds and the entries to
// be reversed that the batch names, with the entries' postings and any
// reversal they already have. Locking the original entry makes two
// replicas reversing it take turns, so the second sees the first's
// reversal.
func (b *batch) phase1() []step {
	var holdIDs, entryIDs []string
	for _, r := range b.reqs {
		switch o := r.op.(type) {
		case Reserve:
			holdIDs = append(holdIDs, o.Hold.ID)
		case PostHold, VoidHold, ExpireHold:
			holdIDs = append(holdIDs, holdIDOf(o))
		case Reverse:
			entryIDs = append(entryIDs, o.EntryID)
		}
	}
	var steps []step
	if holdIDs = dedupe(holdIDs); len(holdIDs) > 0 {
		cond, arg := b.in("id", holdIDs)
		steps = append(steps, step{sql: `SELECT id, account_id, destination_id, asset, amount, status, deadline, posted,
			COALESCE(entry_id, ''), created_at, resolved_at FROM holds WHERE ` + cond + b.forUpdate("id"), args: []any{arg}, rows: b.scanHolds})
	}
	if entryIDs = dedupe(entryIDs); len(entryIDs) > 0 {
		cond, arg := b.in("id", entryIDs)
		steps = append(steps, step{sql: `SELECT id, COALESCE(reversal_of, '') FROM entries WHERE ` + cond + b.forUpdate("id"),
			args: []any{arg}, rows: b.scanEntries})
		cond, arg = b.in("entry_id", entryIDs)
		steps = append(steps, step{sql: `SELECT entry_id, account_id, asset, amount FROM postings WHERE ` + cond + ` ORDER BY entry_id, idx`,
			args: []any{arg}, rows: b.scanPostings})
		cond, arg = b.in("reversal_of", entryIDs)
		steps = append(steps, step{sql: `SELECT reversal_of, id FROM entries WHERE ` + cond, args: []any{arg}, rows: b.scanReversals})
	}
	return steps
}

func (b *batch) scanHolds(rows rowsIter) error {
	for rows.Next() {
		var h holdState
		var asset, status string
		var amount, deadline int64
		if err := rows.Scan(&h.hold.ID, &h.hold.Account, &h.hold.Destination, &asset, &amount, &status, &deadline,
			&h.hold.Posted, &h.hold.EntryID, &h.createdAt, &h.resolvedAt); err != nil {
			return err
		}
		a, err := assetOf(asset)
		if err != nil {
			return err
		}
		h.hold.Amount = money.New(amount, a)
		h.hold.Status = ledger.HoldStatus(status)
		h.hold.Deadline = fromMicros0(deadline)
		h.inDB = true
		b.holdsBase[h.hold.ID] = h
	}
	return nil
}

func (b *batch) scanEntries(rows rowsIter) error {
	for rows.Next() {
		var e entryState
		if err := rows.Scan(&e.entry.ID, &e.entry.ReversalOf); err != nil {
			return err
		}
		b.entriesBase[e.entry.ID] = e
	}
	return nil
}

func (b *batch) scanPostings(rows rowsIter) error {
	for rows.Next() {
		var entryID, account, asset string
		var amount int64
		if err := rows.Scan(&entryID, &account, &asset, &amount); err != nil {
			return err
		}
		a, err := assetOf(asset)
		if err != nil {
			return err
		}
		e, ok := b.entriesBase[entryID]
		if !ok {
			return fmt.Errorf("posting of entry %s, which was not loaded", entryID)
		}
		e.entry.Postings = append(e.entry.Postings, ledger.Posting{Account: account, Amount: money.New(amount, a)})
		b.entriesBase[entryID] = e
	}
	return nil
}

func (b *batch) scanReversals(rows rowsIter) error {
	for rows.Next() {
		var orig, rev string
		if err := rows.Scan(&orig, &rev); err != nil {
			return err
		}
		e := b.entriesBase[orig]
		e.reversedBy = rev
		b.entriesBase[orig] = e
	}
	return nil
}

// phase2 reads (on PostgreSQL: locks, in (account_id, asset) order) the
// balances the operations may change, and reads their accounts without
// locking them: a status change (freeze) takes effect for batches that
// start after it committed.
func (b *batch) phase2() []step {
	var accountIDs []string
	pairs := map[pairKey]bool{}
	addPair := func(account string, asset money.Asset) {
		accountIDs = append(accountIDs, account)
		pairs[pairKey{account, asset}] = true
	}
	reserves := map[string]ledger.HoldRequest{}
	for _, r := range b.reqs {
		switch o := r.op.(type) {
		case Post:
			for _, p := range o.Entry.Postings {
				addPair(p.Account, p.Amount.Asset())
			}
		case Reserve:
			addPair(o.Hold.Account, o.Hold.Amount.Asset())
			accountIDs = append(accountIDs, o.Hold.Destination)
			reserves[o.Hold.ID] = o.Hold
		case PostHold, VoidHold, ExpireHold:
			var account, dest string
			var asset money.Asset
			if h, ok := b.holdsBase[holdIDOf(o)]; ok {
				account, dest, asset = h.hold.Account, h.hold.Destination, h.hold.Amount.Asset()
			} else if req, ok := reserves[holdIDOf(o)]; ok {
				account, dest, asset = req.Account, req.Destination, req.Amount.Asset()
			} else {
				continue
			}
			addPair(account, asset)
			if _, post := o.(PostHold); post {
				addPair(dest, asset)
			} else {
				accountIDs = append(accountIDs, dest)
			}
		case Reverse:
			if e, ok := b.entriesBase[o.EntryID]; ok {
				for _, p := range e.entry.Postings {
					addPair(p.Account, p.Amount.Asset())
				}
			}
			// An entry posted earlier in this batch touches pairs already
			// collected from its own operation.
		}
	}
	accountIDs = dedupe(accountIDs)
	if len(accountIDs) == 0 {
		return nil
	}
	keys := make([]pairKey, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	cond, arg := b.in("id", accountIDs)
	return []step{
		b.balancesStep(keys, accountIDs),
		{sql: `SELECT id, kind, status, currency, credit_limit FROM accounts WHERE ` + cond, args: []any{arg}, rows: b.scanAccounts},
	}
}

func (b *batch) scanAccounts(rows rowsIter) error {
	for rows.Next() {
		var a ledger.Account
		var kind, status, currency string
		if err := rows.Scan(&a.ID, &kind, &status, &currency, &a.CreditLimit); err != nil {
			return err
		}
		a.Kind, a.Status = ledger.Kind(kind), ledger.Status(status)
		var err error
		if a.Currency, err = money.Currency(currency); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
		b.accounts[a.ID] = a
	}
	return nil
}

// balancesStep reads the balance rows of keys that exist; on PostgreSQL it
// locks exactly those, in (account_id, asset) order. SQLite reads every
// balance of the accounts (cheap, and nothing to lock).
func (b *batch) balancesStep(keys []pairKey, accountIDs []string) step {
	if b.pg {
		accts, assets := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			accts[i], assets[i] = k.account, k.asset.Code()
		}
		return step{sql: `SELECT b.account_id, b.asset, b.posted, b.held FROM balances b
			JOIN unnest(?::text[], ?::text[]) AS k(account_id, asset) ON b.account_id = k.account_id AND b.asset = k.asset
			ORDER BY b.account_id, b.asset FOR UPDATE OF b`, args: []any{accts, assets}, rows: b.scanBalances}
	}
	cond, arg := b.in("account_id", accountIDs)
	return step{sql: `SELECT account_id, asset, posted, held FROM balances WHERE ` + cond, args: []any{arg}, rows: b.scanBalances}
}

func (b *batch) scanBalances(rows rowsIter) error {
	for rows.Next() {
		var bal ledger.Balance
		var asset string
		if err := rows.Scan(&bal.Account, &asset, &bal.Posted, &bal.Held); err != nil {
			return err
		}
		var err error
		if bal.Asset, err = assetOf(asset); err != nil {
			return err
		}
		b.base[pairKey{bal.Account, bal.Asset}] = baseBalance{bal: bal, exists: true}
	}
	return nil
}

// counterSteps read the counters the batch's operations name (a key
// without a row counts as 0). On PostgreSQL they first lock them, in key
// order (byte order, whatever the database's collation), creating the rows
// that do not exist yet at 0 so that they can be locked too: an upsert
// whose DO UPDATE never updates, which inserts a missing row or else waits
// for and locks the existing one. Without the lock on a missing row, two
// replicas could both count from 0 and both slip under a ceiling. The rows
// it created are recorded in countersMade.
func (b *batch) counterSteps() []step {
	var keys []string
	for _, r := range b.reqs {
		for _, c := range r.op.common().counters {
			keys = append(keys, c.Key)
		}
	}
	if keys = dedupe(keys); len(keys) == 0 {
		return nil
	}
	read := step{args: []any{keys}, rows: b.scanCounters}
	if !b.pg {
		cond, arg := b.in("key", keys)
		read.sql, read.args = `SELECT key, value FROM ledger_counters WHERE `+cond, []any{arg}
		return []step{read}
	}
	read.sql = `SELECT key, value FROM ledger_counters WHERE key = ANY(?::text[])`
	return []step{{sql: `INSERT INTO ledger_counters (key, value, expires_at)
			SELECT key, 0, 0 FROM unnest(?::text[]) AS u(key) ORDER BY key COLLATE "C"
			ON CONFLICT (key) DO UPDATE SET value = ledger_counters.value WHERE false
			RETURNING key`, args: []any{keys}, rows: b.scanMadeCounters},
		read}
}

func (b *batch) scanMadeCounters(rows rowsIter) error {
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return err
		}
		b.countersMade = append(b.countersMade, key)
	}
	return nil
}

func (b *batch) scanCounters(rows rowsIter) error {
	for rows.Next() {
		var key string
		var value int64
		if err := rows.Scan(&key, &value); err != nil {
			return err
		}
		b.countersBase[key] = value
	}
	return nil
}

// dropUnusedCounters (PostgreSQL) deletes the counter rows the load created
// that no accepted operation writes, so that a refused operation leaves
// nothing behind.
func (b *batch) dropUnusedCounters(acc []*plan) []step {
	if len(b.countersMade) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, p := range acc {
		for _, c := range p.counters {
			used[c.key] = true
		}
	}
	var keys []string
	for _, k := range b.countersMade {
		if !used[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return []step{{sql: `DELETE FROM ledger_counters WHERE key = ANY(?::text[]) AND value = 0`, args: []any{keys}}}
}

// ensure (PostgreSQL) makes the balance rows that plans change and that did
// not exist at load time exist, and locks them. Without it, two replicas
// could both plan a new (account, asset) from zero and the second write
// would overwrite the first. changed reports that some row turned up with a
// balance (another replica created it meanwhile): the caller must re-plan.
// touched lists the pairs it made exist.
func (b *batch) ensure(ctx context.Context, ex executor, plans []*plan) (changed bool, touched []pairKey, err error) {
	seen := map[pairKey]bool{}
	for _, p := range plans {
		for _, bal := range p.balances {
			k := pairKey{bal.Account, bal.Asset}
			if !b.base[k].exists && !seen[k] {
				seen[k] = true
				touched = append(touched, k)
			}
		}
	}
	if len(touched) == 0 {
		return false, nil, nil
	}
	accts, assets := make([]string, len(touched)), make([]string, len(touched))
	for i, k := range touched {
		accts[i], assets[i] = k.account, k.asset.Code()
	}
	err = ex.run(ctx, []step{
		{sql: `INSERT INTO balances (account_id, asset, posted, held)
			SELECT account_id, asset, 0, 0 FROM unnest(?::text[], ?::text[]) AS k(account_id, asset)
			ON CONFLICT (account_id, asset) DO NOTHING`, args: []any{accts, assets}},
		b.balancesStep(touched, nil),
	})
	if err != nil {
		return false, touched, fmt.Errorf("create balances: %w", err)
	}
	for _, k := range touched {
		bb := b.base[k]
		if !bb.exists {
			return false, touched, fmt.Errorf("balance %s/%s missing after insert", k.account, k.asset.Code())
		}
		if bb.bal.Posted != 0 || bb.bal.Held != 0 {
			changed = true
		}
	}
	return changed, touched, nil
}

// dropUnused (PostgreSQL) deletes the zero balance rows ensure created for
// operations that a re-plan then refused, so that a refused operation
// leaves nothing behind. It only has work after a re-plan, which needs a
// concurrent first use of the same balance on another replica.
func (b *batch) dropUnused(ensured []pairKey, acc []*plan) []step {
	if len(ensured) == 0 {
		return nil
	}
	used := map[pairKey]bool{}
	for _, p := range acc {
		for _, bal := range p.balances {
			used[pairKey{bal.Account, bal.Asset}] = true
		}
	}
	var accts, assets []string
	for _, k := range ensured {
		if !used[k] {
			accts, assets = append(accts, k.account), append(assets, k.asset.Code())
		}
	}
	if len(accts) == 0 {
		return nil
	}
	return []step{{sql: `DELETE FROM balances b USING unnest(?::text[], ?::text[]) AS k(account_id, asset)
		WHERE b.account_id = k.account_id AND b.asset = k.asset AND b.posted = 0 AND b.held = 0`, args: []any{accts, assets}}}
}

// placeholders returns "(?, ?, …), (…)" for rows of n columns.
func placeholders(rows, n int) string {
	one := "(" + strings.Repeat("?, ", n-1) + "?)"
	var sb strings.Builder
	sb.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(one)
	}
	return sb.String()
}
