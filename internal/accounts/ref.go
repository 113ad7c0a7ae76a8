package accounts

import (
	"context"
	"fmt"
	"sync"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/store"
)

// Ref is what never changes about an account once it is opened: its owner,
// kind and currency. Movements resolve their parties with it; the posting
// engine judges what does change (status, balances) inside its transaction.
type Ref struct {
	ID       string
	OwnerID  string // empty for system accounts
	Kind     ledger.Kind
	Currency string
}

// System reports whether r is one of the platform's system accounts.
func (r Ref) System() bool { return r.OwnerID == "" }

// maxRefs bounds the reference cache; it is emptied when full (entries are
// cheap to reload and never stale, since what they hold never changes).
const maxRefs = 200_000

// refCache holds Refs by account ID.
type refCache struct {
	mu sync.RWMutex
	m  map[string]Ref
}

func (c *refCache) get(accountID string) (Ref, bool) {
	c.mu.RLock()
	r, ok := c.m[accountID]
	c.mu.RUnlock()
	return r, ok
}

func (c *refCache) put(r Ref) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxRefs {
		c.m = make(map[string]Ref, 1024)
	}
	c.m[r.ID] = r
	c.mu.Unlock()
}

// Ref returns the owner, kind and currency of any account (no owner check:
// callers decide who may see what). An unknown ID is not_found. Answers are
// cached in memory: none of these fields ever changes.
func (s *Service) Ref(ctx context.Context, accountID string) (Ref, error) {
	if r, ok := s.refs.get(accountID); ok {
		return r, nil
	}
	if !id.Valid(IDPrefix, accountID) {
		return Ref{}, notFound()
	}
	return s.readRef(ctx, `SELECT id, COALESCE(owner_user_id, ''), kind, currency FROM accounts WHERE id = ?`, accountID)
}

// RecipientByEmail returns the account that receives money sent to the
// customer with this (normalized) email in currency: their oldest active
// checking account in it, else their oldest active savings, investment or
// credit account in it, in that order. not_found when there is none, the
// same whether or not the email belongs to anyone.
func (s *Service) RecipientByEmail(ctx context.Context, email, currency string) (Ref, error) {
	return s.readRef(ctx, `SELECT a.id, a.owner_user_id, a.kind, a.currency
		FROM users u JOIN accounts a ON a.owner_user_id = u.id
		WHERE u.email = ? AND a.currency = ? AND a.status = 'active'
		ORDER BY CASE a.kind WHEN 'checking' THEN 0 WHEN 'savings' THEN 1 WHEN 'investment' THEN 2 ELSE 3 END, a.id
		LIMIT 1`, email, currency)
}

// readRef reads one Ref (columns id, owner, kind, currency) and caches it;
// no row is not_found.
func (s *Service) readRef(ctx context.Context, query string, args ...any) (Ref, error) {
	var r Ref
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var kind string
		err := tx.QueryRow(ctx, query, args...).Scan(&r.ID, &r.OwnerID, &kind, &r.Currency)
		if store.IsNotFound(err) {
			return notFound()
		}
		if err != nil {
			return fmt.Errorf("account ref: %w", err)
		}
		r.Kind = ledger.Kind(kind)
		return nil
	})
	if err != nil {
		return Ref{}, err
	}
	s.refs.put(r)
	return r, nil
}
