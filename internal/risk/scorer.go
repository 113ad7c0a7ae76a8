package risk

import (
	"context"

	"github.com/fiscus/fiscus/internal/store"
)

// Scorer assesses transfers against one configuration, loading each one's
// History from the database: the I/O-bound half the transfer service calls
// (through an adapter in the wiring, since risk does not know its types).
type Scorer struct {
	db  *store.DB
	cfg Config
}

// NewScorer returns a Scorer. cfg should have passed Validate.
func NewScorer(db *store.DB, cfg Config) *Scorer { return &Scorer{db: db, cfg: cfg} }

// Config returns the configuration the Scorer assesses with.
func (s *Scorer) Config() Config { return s.cfg }

// Assess loads the History of in (a transfer not yet stored, asked for in
// the session sessionID) and assesses it. in.History is ignored.
func (s *Scorer) Assess(ctx context.Context, in Input, sessionID string) (Assessment, error) {
	return s.AssessTo(ctx, in, sessionID, "")
}

// AssessTo is Assess when the caller knows who owns the destination
// account (recipientOwner), which spares a query.
func (s *Scorer) AssessTo(ctx context.Context, in Input, sessionID, recipientOwner string) (Assessment, error) {
	if !s.cfg.anyEnabled() {
		return s.cfg.Assess(in), nil // no rule to feed: no history to load
	}
	q := s.cfg.Query(in, sessionID)
	q.RecipientOwner = recipientOwner
	h, err := LoadHistory(ctx, s.db, q)
	if err != nil {
		return Assessment{}, err
	}
	in.History = h
	return s.cfg.Assess(in), nil
}

// anyEnabled reports whether some rule is enabled.
func (c Config) anyEnabled() bool {
	for _, r := range c.Rules {
		if r.Enabled {
			return true
		}
	}
	return false
}
