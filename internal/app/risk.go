package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/risk"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/transfer"
)

// riskConfig loads the fraud and velocity rules: RISK_RULES_FILE when set,
// else the defaults, with RISK_REVIEW_SCORE overriding the review score.
func riskConfig(cfg config.Config) (risk.Config, error) {
	rc := risk.Default()
	if cfg.RiskRulesFile != "" {
		raw, err := os.ReadFile(cfg.RiskRulesFile)
		if err != nil {
			return risk.Config{}, fmt.Errorf("RISK_RULES_FILE: %w", err)
		}
		if rc, err = risk.Parse(raw); err != nil {
			return risk.Config{}, fmt.Errorf("RISK_RULES_FILE %s: %w", cfg.RiskRulesFile, err)
		}
	}
	if cfg.RiskReviewScore >= 0 {
		rc.ReviewScore = cfg.RiskReviewScore
		if err := rc.Validate(); err != nil {
			return risk.Config{}, fmt.Errorf("RISK_REVIEW_SCORE: %w", err)
		}
	}
	return rc, nil
}

// riskAssessor adapts the rules engine to the transfer service. With a
// history cache it is also the service's Observer, and the identity
// service's sign-ins and credential changes make the cache forget the user.
type riskAssessor struct {
	s     *risk.Scorer
	cache *risk.Cache // nil: no cache
}

func newRiskAssessor(db *store.DB, rc risk.Config, ttl time.Duration, ids *identity.Service) transfer.Assessor {
	if ttl <= 0 {
		return riskAssessor{s: risk.NewScorer(db, rc, nil)}
	}
	cache := risk.NewCache(ttl, risk.DefaultCacheSize)
	ids.OnUserChange(cache.Forget)
	return observingAssessor{riskAssessor{s: risk.NewScorer(db, rc, cache), cache: cache}}
}

// observingAssessor is a riskAssessor with a cache, which must hear of
// committed transfers.
type observingAssessor struct{ riskAssessor }

// Committed implements transfer.Observer.
func (r observingAssessor) Committed(t transfer.Transfer) {
	if t.FromOwnerID == "" {
		return // from a system account: nobody's history
	}
	r.cache.Observe(t.FromOwnerID, risk.Outgoing{ID: t.ID, Kind: t.Kind, Status: t.Status, To: t.ToAccountID,
		ToOwner: t.ToOwnerID, Asset: t.Currency, Amount: t.Amount, CreatedAt: store.Micros(t.CreatedAt)})
}

func (r riskAssessor) Assess(ctx context.Context, in transfer.RiskInput) (transfer.Risk, error) {
	a, err := r.s.AssessTo(ctx, risk.Input{Now: in.Now, Amount: in.Amount, Currency: in.Currency, UserID: in.UserID,
		Recipient: in.RecipientAccountID, IP: in.IP, UserAgent: in.UserAgent}, in.SessionID, in.RecipientOwnerID)
	if err != nil {
		return transfer.Risk{}, err
	}
	out := transfer.Risk{Score: a.Score, Review: a.Review, Reasons: make([]transfer.RiskReason, 0, len(a.Reasons))}
	for _, x := range a.Reasons {
		out.Reasons = append(out.Reasons, transfer.RiskReason{Rule: x.Rule, Points: x.Points, Message: x.Message})
	}
	return out, nil
}
