// Package accounts is the accounts service: customer accounts (checking,
// savings, credit, investment), the platform's system accounts, balances,
// statements with running balances, and the ledger verifier. Ledger writes
// (entries, postings, holds) belong to package journal; this package opens
// accounts and reads what the journal wrote.
//
// Guarantees:
//   - A customer account has one owner and one currency; only a credit
//     account has a credit limit (≥ 0). Every account is opened with a zero
//     balance row in its currency, in the same transaction as its audit
//     event.
//   - Someone else's account does not exist: Get, Statement and the other
//     owner-scoped reads answer not_found for it, exactly as for an unknown
//     ID.
//   - There is exactly one system account per (kind, currency), created on
//     first use; concurrent first uses on any number of replicas agree on
//     it (a UNIQUE system_code and INSERT … ON CONFLICT DO NOTHING).
//   - Statements come from the postings themselves: every line carries the
//     balance right after it (postings.balance_after), in the order the
//     postings changed the balance.
//   - Verify reads one consistent snapshot and reports every broken ledger
//     invariant it finds with the account, asset, entry or hold concerned
//     and the expected and actual values.
package accounts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// IDPrefix is the type prefix of account IDs ("acct_…").
const IDPrefix = "acct"

// Limits.
const (
	MaxNameRunes        = 100               // account name
	MaxAccountsPerOwner = 50                // open accounts per user
	MaxCreditLimit      = 1_000_000_000_000 // minor units (10 billion USD)
)

// Error codes of this package.
const (
	CodeAccountLimit fault.Code = "account_limit_reached"
)

// Account is an account with its balances.
type Account struct {
	ID          string
	OwnerID     string // empty for system accounts
	Kind        ledger.Kind
	Name        string
	Currency    string
	CreditLimit int64 // minor units of Currency; credit accounts only
	Status      ledger.Status
	SystemCode  string // "external:USD" for system accounts; empty for customer accounts
	CreatedAt   time.Time

	// Balance is the ledger balance in Currency (minor units); Held the part
	// reserved by pending holds; AvailableBalance = Balance - Held.
	Balance          int64
	Held             int64
	AvailableBalance int64
	// Holdings are the securities of an investment account (or of a system
	// account), sorted by symbol.
	Holdings []Holding
}

// Holding is a position in one security, in shares.
type Holding struct {
	Symbol            string
	Quantity          int64 // ledger quantity
	Held              int64 // reserved by pending holds (open sell orders, share transfers)
	AvailableQuantity int64 // Quantity - Held
}

// Service implements the account use cases.
type Service struct {
	db     *store.DB
	now    func() time.Time
	system sync.Map // system code → Account (system accounts never change ID)
	refs   refCache
}

// Deps are the service's collaborators.
type Deps struct {
	DB  *store.DB
	Now func() time.Time // the injected clock; time.Now when nil
}

// New returns a service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{db: d.DB, now: d.Now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Open opens a customer account for owner. Kind is checking, savings,
// credit or investment; currency an ISO 4217 code; creditLimit (minor
// units) only for credit accounts.
func (s *Service) Open(ctx context.Context, owner string, kind ledger.Kind, name, currency string, creditLimit int64) (Account, error) {
	name, err := normalizeName(name)
	if err != nil {
		return Account{}, err
	}
	switch {
	case !kind.Known() || kind.IsSystem():
		return Account{}, fault.Invalidf("type", "invalid_account_type", "The account type must be checking, savings, credit or investment.")
	case creditLimit < 0:
		return Account{}, fault.Invalidf("credit_limit", "invalid_credit_limit", "A credit limit cannot be negative.")
	case creditLimit > 0 && kind != ledger.KindCredit:
		return Account{}, fault.Invalidf("credit_limit", "invalid_credit_limit", "Only credit accounts have a credit limit.")
	case creditLimit > MaxCreditLimit:
		return Account{}, fault.Invalidf("credit_limit", "invalid_credit_limit", "A credit limit is at most %d minor units.", int64(MaxCreditLimit))
	}
	cur, err := money.Currency(currency)
	if err != nil {
		return Account{}, fault.Invalidf("currency", string(money.CodeUnknownCurrency), "Unknown currency %q.", clip(currency))
	}
	now := s.clock()
	a := Account{
		ID: id.New(IDPrefix, now), OwnerID: owner, Kind: kind, Name: name, Currency: cur.Code(),
		CreditLimit: creditLimit, Status: ledger.StatusActive, CreatedAt: now,
	}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		// Lock the owner so that two concurrent opens count each other.
		lock := `SELECT id FROM users WHERE id = ?`
		if tx.Dialect() == store.Postgres {
			lock += ` FOR UPDATE`
		}
		var uid string
		if err := tx.QueryRow(ctx, lock, owner).Scan(&uid); err != nil {
			if store.IsNotFound(err) {
				return fault.New(fault.NotFound, "The user does not exist.")
			}
			return fmt.Errorf("find owner: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE owner_user_id = ? AND status <> 'closed'`, owner).Scan(&n); err != nil {
			return fmt.Errorf("count accounts: %w", err)
		}
		if n >= MaxAccountsPerOwner {
			return fault.New(CodeAccountLimit, "A customer has at most %d open accounts.", MaxAccountsPerOwner).
				With("limit", MaxAccountsPerOwner)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, owner_user_id, kind, name, currency, credit_limit, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, owner, string(kind), name, a.Currency, creditLimit, string(a.Status), store.Micros(now)); err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO balances (account_id, asset, posted, held) VALUES (?, ?, 0, 0)`, a.ID, a.Currency); err != nil {
			return fmt.Errorf("insert balance: %w", err)
		}
		_, err := audit.Record(ctx, tx, audit.Event{
			At: now, ActorKind: audit.ActorUser, ActorID: owner, Action: "account.opened",
			TargetType: "account", TargetID: a.ID,
			Details: map[string]any{"type": string(kind), "currency": a.Currency, "credit_limit": creditLimit},
		})
		return err
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

// SystemCode names the system account of kind in currency: "external:USD".
func SystemCode(kind ledger.Kind, currency string) string { return string(kind) + ":" + currency }

// SystemAccount returns the system account of kind (external, fees,
// settlement or market) in currency, creating it on first use. It is safe to
// call concurrently from any number of processes. The answer is cached (a
// system account never changes ID) and carries no balances; Lookup has
// them.
func (s *Service) SystemAccount(ctx context.Context, kind ledger.Kind, currency string) (Account, error) {
	if !kind.IsSystem() {
		return Account{}, fault.Invalidf("type", "invalid_account_type", "%q is not a system account type.", clip(string(kind)))
	}
	cur, err := money.Currency(currency)
	if err != nil {
		return Account{}, fault.Invalidf("currency", string(money.CodeUnknownCurrency), "Unknown currency %q.", clip(currency))
	}
	code := SystemCode(kind, cur.Code())
	if a, ok := s.system.Load(code); ok {
		return a.(Account), nil
	}
	now := s.clock()
	var a Account
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		name := systemName(kind) + " (" + cur.Code() + ")"
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, kind, name, currency, status, system_code, created_at)
			VALUES (?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (system_code) DO NOTHING`,
			id.New(IDPrefix, now), string(kind), name, cur.Code(), code, store.Micros(now)); err != nil {
			return fmt.Errorf("create system account %s: %w", code, err)
		}
		row := tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE system_code = ?`, code)
		var err error
		if a, err = scanAccount(row); err != nil {
			return fmt.Errorf("read system account %s: %w", code, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO balances (account_id, asset, posted, held) VALUES (?, ?, 0, 0)
			ON CONFLICT (account_id, asset) DO NOTHING`, a.ID, a.Currency); err != nil {
			return fmt.Errorf("create system balance %s: %w", code, err)
		}
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	s.system.Store(code, a)
	return a, nil
}

func systemName(k ledger.Kind) string {
	switch k {
	case ledger.KindExternal:
		return "External funding"
	case ledger.KindFees:
		return "Fees"
	case ledger.KindSettlement:
		return "Settlement"
	case ledger.KindMarket:
		return "Market"
	}
	return string(k)
}

// Get returns owner's account id with its balances; anyone else's account
// is not_found.
func (s *Service) Get(ctx context.Context, owner, accountID string) (Account, error) {
	if !id.Valid(IDPrefix, accountID) {
		return Account{}, notFound()
	}
	var a Account
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ? AND owner_user_id = ?`, accountID, owner))
		if err != nil {
			if store.IsNotFound(err) {
				return notFound()
			}
			return fmt.Errorf("get account: %w", err)
		}
		return s.fillBalances(ctx, tx, []*Account{&a})
	})
	return a, err
}

// Lookup returns any account, with its balances, regardless of owner: for
// staff (authorized by permission at the edge) and for services that must
// resolve a counterparty.
func (s *Service) Lookup(ctx context.Context, accountID string) (Account, error) {
	if !id.Valid(IDPrefix, accountID) {
		return Account{}, notFound()
	}
	var a Account
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, accountID))
		if err != nil {
			if store.IsNotFound(err) {
				return notFound()
			}
			return fmt.Errorf("lookup account: %w", err)
		}
		return s.fillBalances(ctx, tx, []*Account{&a})
	})
	return a, err
}

// List returns owner's accounts (at most MaxAccountsPerOwner open ones plus
// closed ones, bounded by listLimit), oldest first, with balances.
func (s *Service) List(ctx context.Context, owner string) ([]Account, error) {
	const listLimit = 4 * MaxAccountsPerOwner
	var out []Account
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE owner_user_id = ? ORDER BY id LIMIT ?`, owner, listLimit)
		if err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("list accounts: %w", err)
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		ptrs := make([]*Account, len(out))
		for i := range out {
			ptrs[i] = &out[i]
		}
		return s.fillBalances(ctx, tx, ptrs)
	})
	return out, err
}

const accountCols = `id, COALESCE(owner_user_id, ''), kind, name, currency, credit_limit, status, COALESCE(system_code, ''), created_at`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(r scanner) (Account, error) {
	var a Account
	var kind, status string
	var created int64
	if err := r.Scan(&a.ID, &a.OwnerID, &kind, &a.Name, &a.Currency, &a.CreditLimit, &status, &a.SystemCode, &created); err != nil {
		return Account{}, err
	}
	a.Kind, a.Status, a.CreatedAt = ledger.Kind(kind), ledger.Status(status), store.FromMicros(created)
	return a, nil
}

// fillBalances sets the balances and holdings of accounts with one query.
func (s *Service) fillBalances(ctx context.Context, tx *store.Tx, accts []*Account) error {
	if len(accts) == 0 {
		return nil
	}
	byID := make(map[string]*Account, len(accts))
	ids := make([]string, len(accts))
	for i, a := range accts {
		byID[a.ID] = a
		ids[i] = a.ID
	}
	q := `SELECT account_id, asset, posted, held FROM balances WHERE account_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `) ORDER BY account_id, asset`
	args := make([]any, len(ids))
	for i, v := range ids {
		args[i] = v
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct, asset string
		var posted, held int64
		if err := rows.Scan(&acct, &asset, &posted, &held); err != nil {
			return fmt.Errorf("read balances: %w", err)
		}
		a := byID[acct]
		avail, ok := money.SubUnits(posted, held)
		if !ok {
			return fmt.Errorf("balance %s/%s: available overflows", acct, asset)
		}
		if asset == a.Currency {
			a.Balance, a.Held, a.AvailableBalance = posted, held, avail
			continue
		}
		if _, err := money.Currency(asset); err == nil {
			continue // another currency: only system accounts hold several, shown through their own code
		}
		if posted == 0 && held == 0 {
			continue
		}
		a.Holdings = append(a.Holdings, Holding{Symbol: asset, Quantity: posted, Held: held, AvailableQuantity: avail})
	}
	return rows.Err()
}

func notFound() *fault.Error { return fault.New(fault.NotFound, "The account does not exist.") }

// normalizeName trims and checks an account name: 1 to MaxNameRunes
// printable characters.
func normalizeName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	bad := func(msg string) (string, error) { return "", fault.Invalidf("name", "invalid_name", "%s", msg) }
	if !utf8.ValidString(name) {
		return bad("The name is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxNameRunes {
		return bad(fmt.Sprintf("The name is 1 to %d characters.", MaxNameRunes))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad("The name contains control characters.")
		}
	}
	return name, nil
}

func clip(s string) string {
	const n = 32
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
