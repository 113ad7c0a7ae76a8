package accounts

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// Rules Verify reports besides ledger.Verify's (conservation, orphan_balance,
// held_negative, held_mismatch, below_floor, overflow).
const (
	RulePostingsConservation = "postings_conservation"  // all postings of an asset do not sum to zero
	RuleUnbalancedEntry      = "unbalanced_entry"       // an entry's postings do not sum to zero in an asset
	RuleTooFewPostings       = "too_few_postings"       // an entry with fewer than ledger.MinPostings postings
	RuleBalanceMismatch      = "balance_mismatch"       // a cached posted balance differs from the sum of its postings
	RuleBalanceAfter         = "balance_after_mismatch" // a posting's balance_after differs from the running sum before it plus its amount
	RuleLastBalanceAfter     = "last_balance_after"     // the last balance_after of a balance differs from the cached posted balance
	RuleOrphanPosting        = "orphan_posting"         // a posting to an account or of an entry that does not exist
	RuleInvalidReversal      = "invalid_reversal"       // a reversal that is not the exact inverse of an existing, non-reversal entry
	RuleInvalidHold          = "invalid_hold"           // a posted hold without the matching posting
)

// Limits of Verify.
const (
	MaxViolations = 1000    // reported; the rest are counted in Report.Truncated
	progressEvery = 100_000 // postings between progress lines
)

// Violation is one broken invariant. Expected and Actual are minor units
// when HasValues is set.
type Violation struct {
	Rule      string
	Account   string
	Asset     string
	Entry     string
	Hold      string
	Expected  int64
	Actual    int64
	HasValues bool
	Detail    string
}

func (v Violation) String() string {
	s := v.Rule
	for _, f := range []struct{ k, v string }{{"account", v.Account}, {"asset", v.Asset}, {"entry", v.Entry}, {"hold", v.Hold}} {
		if f.v != "" {
			s += " " + f.k + "=" + f.v
		}
	}
	if v.HasValues {
		s += fmt.Sprintf(" expected=%d actual=%d", v.Expected, v.Actual)
	}
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	return s
}

// Report is what Verify found.
type Report struct {
	Accounts, Balances, Entries, Postings, Holds int64
	Violations                                   []Violation
	Truncated                                    int // violations found beyond MaxViolations
}

// OK reports whether no invariant is broken.
func (r *Report) OK() bool { return len(r.Violations) == 0 && r.Truncated == 0 }

// Has reports whether some violation has the given rule.
func (r *Report) Has(rule string) bool {
	for _, v := range r.Violations {
		if v.Rule == rule {
			return true
		}
	}
	return false
}

func (r *Report) add(v Violation) {
	if len(r.Violations) >= MaxViolations {
		r.Truncated++
		return
	}
	r.Violations = append(r.Violations, v)
}

// Verify checks the whole ledger in one read-only snapshot:
//   - per asset, all postings sum to zero, and so do all cached balances;
//   - every entry has at least two postings that sum to zero per asset;
//   - every cached balance equals the sum of its postings, each posting's
//     balance_after equals the running sum, and the last balance_after of
//     each (account, asset) equals the cached posted balance;
//   - no available balance is below its account's floor (zero for every
//     customer account but a credit account, whose floor is minus its
//     limit), held amounts are non-negative and equal the sum of the
//     pending holds;
//   - every posted hold has its posting; every reversal links to an existing
//     entry that is not itself a reversal and inverts each of its postings.
//
// Accounts, balances and pending holds are held in memory; postings and
// entries are streamed. Progress lines go to progress (may be nil).
func (s *Service) Verify(ctx context.Context, progress io.Writer) (Report, error) {
	if progress == nil {
		progress = io.Discard
	}
	var rep Report
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		rep = Report{}
		v := &verifier{tx: tx, rep: &rep, out: progress}
		for _, step := range []func(context.Context) error{
			v.loadAccounts, v.loadBalances, v.loadHolds, v.core, v.postingsByBalance,
			v.postingsByEntry, v.reversals, v.postedHolds,
		} {
			if err := step(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify ledger: %w", err)
	}
	sort.SliceStable(rep.Violations, func(i, j int) bool { return rep.Violations[i].String() < rep.Violations[j].String() })
	fmt.Fprintf(progress, "verified %d accounts, %d balances, %d entries, %d postings, %d holds: %d violations\n",
		rep.Accounts, rep.Balances, rep.Entries, rep.Postings, rep.Holds, len(rep.Violations)+rep.Truncated)
	return rep, nil
}

type balKey struct{ account, asset string }

type verifier struct {
	tx  *store.Tx
	rep *Report
	out io.Writer

	accounts []ledger.Account
	known    map[string]bool
	balances []ledger.Balance
	cached   map[balKey]ledger.Balance
	pending  []ledger.Hold
	heldSum  map[balKey]int64
}

func (v *verifier) loadAccounts(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT id, kind, status, currency, credit_limit FROM accounts ORDER BY id`)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()
	v.known = map[string]bool{}
	for rows.Next() {
		var a ledger.Account
		var kind, status, currency string
		if err := rows.Scan(&a.ID, &kind, &status, &currency, &a.CreditLimit); err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
		a.Kind, a.Status = ledger.Kind(kind), ledger.Status(status)
		if a.Currency, err = money.Currency(currency); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
		v.accounts = append(v.accounts, a)
		v.known[a.ID] = true
	}
	v.rep.Accounts = int64(len(v.accounts))
	fmt.Fprintf(v.out, "accounts: %d\n", v.rep.Accounts)
	return rows.Err()
}

func (v *verifier) loadBalances(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT account_id, asset, posted, held FROM balances ORDER BY account_id, asset`)
	if err != nil {
		return fmt.Errorf("balances: %w", err)
	}
	defer rows.Close()
	v.cached = map[balKey]ledger.Balance{}
	for rows.Next() {
		var b ledger.Balance
		var asset string
		if err := rows.Scan(&b.Account, &asset, &b.Posted, &b.Held); err != nil {
			return fmt.Errorf("balances: %w", err)
		}
		if b.Asset, err = assetOf(asset); err != nil {
			return err
		}
		v.balances = append(v.balances, b)
		v.cached[balKey{b.Account, asset}] = b
	}
	v.rep.Balances = int64(len(v.balances))
	fmt.Fprintf(v.out, "balances: %d\n", v.rep.Balances)
	return rows.Err()
}

func (v *verifier) loadHolds(ctx context.Context) error {
	var n int64
	if err := v.tx.QueryRow(ctx, `SELECT count(*) FROM holds`).Scan(&n); err != nil {
		return fmt.Errorf("holds: %w", err)
	}
	v.rep.Holds = n
	rows, err := v.tx.Query(ctx, `SELECT id, account_id, destination_id, asset, amount FROM holds WHERE status = 'pending' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("holds: %w", err)
	}
	defer rows.Close()
	v.heldSum = map[balKey]int64{}
	for rows.Next() {
		h := ledger.Hold{Status: ledger.HoldPending}
		var asset string
		var amount int64
		if err := rows.Scan(&h.ID, &h.Account, &h.Destination, &asset, &amount); err != nil {
			return fmt.Errorf("holds: %w", err)
		}
		a, err := assetOf(asset)
		if err != nil {
			return err
		}
		h.Amount = money.New(amount, a)
		v.pending = append(v.pending, h)
		k := balKey{h.Account, asset}
		v.heldSum[k], _ = money.AddUnits(v.heldSum[k], amount)
	}
	fmt.Fprintf(v.out, "holds: %d (%d pending)\n", n, len(v.pending))
	return rows.Err()
}

// core runs ledger.Verify over accounts, balances and pending holds, and
// adds the numbers its violations are about.
func (v *verifier) core(context.Context) error {
	sums := map[string]int64{}
	overflow := map[string]bool{}
	for _, b := range v.balances {
		s, ok := money.AddUnits(sums[b.Asset.Code()], b.Posted)
		overflow[b.Asset.Code()] = overflow[b.Asset.Code()] || !ok
		sums[b.Asset.Code()] = s
	}
	byID := map[string]ledger.Account{}
	for _, a := range v.accounts {
		byID[a.ID] = a
	}
	for _, lv := range ledger.Verify(v.accounts, v.balances, v.pending) {
		out := Violation{Rule: lv.Rule, Account: lv.Account, Asset: lv.Asset, Detail: lv.Detail}
		k := balKey{lv.Account, lv.Asset}
		switch lv.Rule {
		case ledger.RuleConservation:
			if !overflow[lv.Asset] {
				out.Expected, out.Actual, out.HasValues = 0, sums[lv.Asset], true
			}
		case ledger.RuleHeldMismatch:
			out.Expected, out.Actual, out.HasValues = v.heldSum[k], v.cached[k].Held, true
		case ledger.RuleBelowFloor:
			b := v.cached[k]
			if avail, err := b.Available(); err == nil {
				floor, _ := byID[lv.Account].Floor(b.Asset)
				out.Expected, out.Actual, out.HasValues = floor, avail, true
			}
		}
		v.rep.add(out)
	}
	return nil
}

// postingsByBalance streams the postings, those of each (account, asset)
// in the order they were made (seq), checking each balance_after against
// the running sum of its balance and each final sum against the cached
// balance; it keeps one running sum per balance. On PostgreSQL they come
// by balance, through the index postings_account; on SQLite, whose
// account index is a table filled behind the postings (PostingsIndex), in
// seq order straight from the table, so that a posting missing from that
// table still counts and nothing is sorted.
func (v *verifier) postingsByBalance(ctx context.Context) error {
	order := `account_id, asset, seq`
	if v.tx.Dialect() == store.SQLite {
		order = `seq`
	}
	rows, err := v.tx.Query(ctx, `SELECT account_id, asset, entry_id, amount, balance_after FROM postings ORDER BY `+order)
	if err != nil {
		return fmt.Errorf("postings: %w", err)
	}
	defer rows.Close()
	type run struct {
		running, lastAfter int64
		broken             bool
	}
	runs := map[balKey]*run{}
	assetSums := map[string]int64{}
	assetOverflow := map[string]bool{}
	for rows.Next() {
		var k balKey
		var entryID string
		var amount, after int64
		if err := rows.Scan(&k.account, &k.asset, &entryID, &amount, &after); err != nil {
			return fmt.Errorf("postings: %w", err)
		}
		v.rep.Postings++
		if v.rep.Postings%progressEvery == 0 {
			fmt.Fprintf(v.out, "postings: %d checked\n", v.rep.Postings)
		}
		r := runs[k]
		if r == nil {
			r = &run{}
			runs[k] = r
			if !v.known[k.account] {
				v.rep.add(Violation{Rule: RuleOrphanPosting, Account: k.account, Asset: k.asset, Entry: entryID, Detail: "no such account"})
			}
		}
		s, ok := money.AddUnits(assetSums[k.asset], amount)
		assetOverflow[k.asset] = assetOverflow[k.asset] || !ok
		assetSums[k.asset] = s
		if r.broken {
			continue
		}
		if r.running, ok = money.AddUnits(r.running, amount); !ok {
			r.broken = true
			v.rep.add(Violation{Rule: ledger.RuleOverflow, Account: k.account, Asset: k.asset, Entry: entryID, Detail: "running balance overflows"})
			continue
		}
		if after != r.running {
			v.rep.add(Violation{Rule: RuleBalanceAfter, Account: k.account, Asset: k.asset, Entry: entryID,
				Expected: r.running, Actual: after, HasValues: true})
		}
		r.lastAfter = after
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postings: %w", err)
	}
	for k, r := range runs {
		cached, ok := v.cached[k]
		switch {
		case r.broken:
			// the running sum overflowed: reported already
		case !ok && r.running != 0:
			v.rep.add(Violation{Rule: RuleBalanceMismatch, Account: k.account, Asset: k.asset,
				Expected: r.running, Actual: 0, HasValues: true, Detail: "no cached balance"})
		case ok && cached.Posted != r.running:
			v.rep.add(Violation{Rule: RuleBalanceMismatch, Account: k.account, Asset: k.asset,
				Expected: r.running, Actual: cached.Posted, HasValues: true, Detail: "cached posted balance differs from the sum of postings"})
		}
		if cachedPosted := cached.Posted; r.lastAfter != cachedPosted {
			v.rep.add(Violation{Rule: RuleLastBalanceAfter, Account: k.account, Asset: k.asset,
				Expected: cachedPosted, Actual: r.lastAfter, HasValues: true, Detail: "last balance_after differs from the cached posted balance"})
		}
	}
	for k, b := range v.cached {
		if runs[k] == nil && (b.Posted != 0) {
			v.rep.add(Violation{Rule: RuleBalanceMismatch, Account: k.account, Asset: k.asset,
				Expected: 0, Actual: b.Posted, HasValues: true, Detail: "cached balance without postings"})
		}
	}
	for asset, sum := range assetSums {
		switch {
		case assetOverflow[asset]:
			v.rep.add(Violation{Rule: ledger.RuleOverflow, Asset: asset, Detail: "the sum of postings overflows"})
		case sum != 0:
			v.rep.add(Violation{Rule: RulePostingsConservation, Asset: asset, Expected: 0, Actual: sum, HasValues: true})
		}
	}
	fmt.Fprintf(v.out, "postings: %d checked\n", v.rep.Postings)
	return nil
}

// postingsByEntry streams entries with their postings and checks that each
// balances per asset.
func (v *verifier) postingsByEntry(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT e.id, p.asset, p.amount FROM entries e LEFT JOIN postings p ON p.entry_id = e.id ORDER BY e.id, p.idx`)
	if err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	defer rows.Close()
	var cur string
	var n int
	sums := map[string]int64{}
	finish := func() {
		if cur == "" {
			return
		}
		v.rep.Entries++
		if n < ledger.MinPostings {
			v.rep.add(Violation{Rule: RuleTooFewPostings, Entry: cur, Expected: ledger.MinPostings, Actual: int64(n), HasValues: true})
		}
		for asset, s := range sums {
			if s != 0 {
				v.rep.add(Violation{Rule: RuleUnbalancedEntry, Entry: cur, Asset: asset, Expected: 0, Actual: s, HasValues: true})
			}
		}
	}
	for rows.Next() {
		var entryID string
		var asset *string
		var amount *int64
		if err := rows.Scan(&entryID, &asset, &amount); err != nil {
			return fmt.Errorf("entries: %w", err)
		}
		if entryID != cur {
			finish()
			cur, n = entryID, 0
			clear(sums)
		}
		if asset == nil || amount == nil {
			continue // an entry without postings
		}
		n++
		s, ok := money.AddUnits(sums[*asset], *amount)
		if !ok {
			v.rep.add(Violation{Rule: ledger.RuleOverflow, Entry: entryID, Asset: *asset, Detail: "the entry's postings overflow"})
		}
		sums[*asset] = s
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	finish()
	fmt.Fprintf(v.out, "entries: %d checked\n", v.rep.Entries)
	return v.orphanPostings(ctx)
}

// orphanPostings finds postings whose entry does not exist (postings carry
// no foreign key; see the migration).
func (v *verifier) orphanPostings(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT p.entry_id, count(*) FROM postings p LEFT JOIN entries e ON e.id = p.entry_id
		WHERE e.id IS NULL GROUP BY p.entry_id ORDER BY p.entry_id`)
	if err != nil {
		return fmt.Errorf("orphan postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var entry string
		var n int64
		if err := rows.Scan(&entry, &n); err != nil {
			return fmt.Errorf("orphan postings: %w", err)
		}
		v.rep.add(Violation{Rule: RuleOrphanPosting, Entry: entry, Detail: fmt.Sprintf("%d postings of a missing entry", n)})
	}
	return rows.Err()
}

// reversals checks every reversal against its original.
func (v *verifier) reversals(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT r.id, r.reversal_of, COALESCE(o.id, ''), COALESCE(o.reversal_of, ''),
			(SELECT count(*) FROM postings WHERE entry_id = r.id), (SELECT count(*) FROM postings WHERE entry_id = r.reversal_of)
		FROM entries r LEFT JOIN entries o ON o.id = r.reversal_of
		WHERE r.reversal_of IS NOT NULL ORDER BY r.id`)
	if err != nil {
		return fmt.Errorf("reversals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rev, of, origID, origOf string
		var nr, no int64
		if err := rows.Scan(&rev, &of, &origID, &origOf, &nr, &no); err != nil {
			return fmt.Errorf("reversals: %w", err)
		}
		switch {
		case origID == "":
			v.rep.add(Violation{Rule: RuleInvalidReversal, Entry: rev, Detail: "reverses missing entry " + of})
		case origOf != "":
			v.rep.add(Violation{Rule: RuleInvalidReversal, Entry: rev, Detail: "reverses " + of + ", itself a reversal"})
		case nr != no:
			v.rep.add(Violation{Rule: RuleInvalidReversal, Entry: rev, Expected: no, Actual: nr, HasValues: true,
				Detail: "posting count differs from " + of})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reversals: %w", err)
	}
	// Posting by posting: the reversal's posting idx inverts the original's.
	rows2, err := v.tx.Query(ctx, `SELECT r.id, rp.account_id, rp.asset, rp.amount, op.account_id, op.asset, op.amount
		FROM entries r
		JOIN postings rp ON rp.entry_id = r.id
		JOIN postings op ON op.entry_id = r.reversal_of AND op.idx = rp.idx
		WHERE r.reversal_of IS NOT NULL AND (rp.account_id <> op.account_id OR rp.asset <> op.asset OR rp.amount <> -op.amount)
		ORDER BY r.id, rp.idx`)
	if err != nil {
		return fmt.Errorf("reversal postings: %w", err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var rev, ra, rs, oa, os string
		var ramt, oamt int64
		if err := rows2.Scan(&rev, &ra, &rs, &ramt, &oa, &os, &oamt); err != nil {
			return fmt.Errorf("reversal postings: %w", err)
		}
		v.rep.add(Violation{Rule: RuleInvalidReversal, Entry: rev, Account: ra, Asset: rs, Expected: -oamt, Actual: ramt, HasValues: true,
			Detail: fmt.Sprintf("does not invert posting %s/%s", oa, os)})
	}
	return rows2.Err()
}

// postedHolds checks that every posted hold's entry debits the hold's
// account by exactly the posted amount.
func (v *verifier) postedHolds(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, `SELECT h.id, h.account_id, h.asset, h.posted, COALESCE(h.entry_id, ''), COALESCE(p.amount, 0)
		FROM holds h LEFT JOIN postings p ON p.entry_id = h.entry_id AND p.account_id = h.account_id AND p.asset = h.asset
		WHERE h.status = 'posted' ORDER BY h.id`)
	if err != nil {
		return fmt.Errorf("posted holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hold, account, asset, entry string
		var posted, amount int64
		if err := rows.Scan(&hold, &account, &asset, &posted, &entry, &amount); err != nil {
			return fmt.Errorf("posted holds: %w", err)
		}
		if amount != -posted {
			v.rep.add(Violation{Rule: RuleInvalidHold, Hold: hold, Account: account, Asset: asset, Entry: entry,
				Expected: -posted, Actual: amount, HasValues: true, Detail: "the posting entry does not debit the posted amount"})
		}
	}
	return rows.Err()
}

// assetOf turns a stored asset code back into an Asset.
func assetOf(code string) (money.Asset, error) {
	if a, err := money.Currency(code); err == nil {
		return a, nil
	}
	a, err := money.Security(code)
	if err != nil {
		return money.Asset{}, fmt.Errorf("stored asset %q: %w", code, err)
	}
	return a, nil
}
