package identity

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/keyring"
	"github.com/fiscus/fiscus/internal/password"
	"github.com/fiscus/fiscus/internal/store"
)

// FromConfig builds the service the way a Fiscus process runs it: keyring,
// password hasher and policy, and the identity settings, all from the
// configuration. Errors name the variables at fault.
func FromConfig(cfg config.Config, db *store.DB, log *slog.Logger, now func() time.Time) (*Service, error) {
	keys, err := keyring.New(cfg.AppSecret, cfg.KeyringFile)
	if err != nil {
		return nil, fmt.Errorf("KEYRING_FILE: %w", err)
	}
	params := password.Params{
		Memory:      uint32(cfg.Argon2MemoryKiB),
		Iterations:  uint32(cfg.Argon2Iterations),
		Parallelism: uint8(cfg.Argon2Parallelism),
		SaltLen:     password.DefaultParams().SaltLen,
		KeyLen:      password.DefaultParams().KeyLen,
	}
	if err := params.Validate(); err != nil {
		return nil, &config.Error{Problems: []string{"ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM: " + err.Error()}}
	}
	icfg := DefaultConfig()
	icfg.AccessTokenTTL = cfg.TokenTTL
	icfg.SessionTTL = cfg.SessionTTL
	icfg.CookieIdleTTL = cfg.CookieIdleTTL
	icfg.StepUpWindow = cfg.StepUpWindow
	icfg.LockoutThreshold = cfg.LockoutThreshold
	icfg.LockoutBase = cfg.LockoutBase
	icfg.LockoutMax = cfg.LockoutMax
	icfg.SessionCacheTTL = cfg.SessionCacheTTL
	return New(Deps{
		DB: db, Hasher: password.NewHasher(params, hashConcurrency(cfg.HashConcurrency)), Policy: password.DefaultPolicy(),
		Keyring: keys, AppSecret: cfg.AppSecret, Now: now, Logger: log,
	}, icfg), nil
}

// hashConcurrency is the configured bound, or half the CPUs (at least one):
// a login flood may then use at most half the machine, and every other
// request keeps CPU to run on.
func hashConcurrency(configured int) int {
	if configured > 0 {
		return configured
	}
	return max(1, runtime.NumCPU()/2)
}
