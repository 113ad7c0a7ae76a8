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
	h, err := LoadHistory(ctx, s.db, s.cfg.Query(in, sessionID))
	if err != nil {
		return Assessment{}, err
	}
	in.History = h
	return s.cfg.Assess(in), nil
}
