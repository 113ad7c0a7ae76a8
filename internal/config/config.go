// Package config loads and validates Fiscus's configuration from the
// environment. Every variable is read in Load and checked as a whole; an error
// names each offending variable. Flags may override fields after Load, then
// Validate runs again. String masks secrets so a Config can be logged.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/policy"
)

// Environments.
const (
	EnvDev        = "dev"
	EnvProduction = "production"
)

// MinSecretLen is the shortest APP_SECRET accepted, in bytes.
const MinSecretLen = 32

// devSecretFile is where a dev-mode secret is kept inside the data directory.
const devSecretFile = "app_secret"

// Config is the whole configuration of one Fiscus process.
type Config struct {
	Env         string // FISCUS_ENV: dev or production
	DataDir     string // FISCUS_DATA_DIR
	DatabaseURL string // DATABASE_URL
	AppSecret   string // APP_SECRET (dev: generated once into DataDir)
	Addr        string // ADDR, or ":"+PORT
	LogLevel    string // LOG_LEVEL

	TLSCertFile string // TLS_CERT_FILE
	TLSKeyFile  string // TLS_KEY_FILE

	CORSOrigins    []string     // CORS_ALLOWED_ORIGINS, comma-separated
	TrustedProxies []*net.IPNet // TRUSTED_PROXIES, comma-separated CIDRs

	TokenTTL        time.Duration // TOKEN_TTL_SECONDS
	MaxBodyBytes    int64         // MAX_BODY_BYTES
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT_SECONDS
	RequestTimeout  time.Duration // REQUEST_TIMEOUT_SECONDS

	MigrateOnStart bool // MIGRATE_ON_START
	SeedDemoData   bool // SEED_DEMO_DATA (dev only)

	DBMaxConns      int // DB_MAX_CONNS
	DBTxMaxAttempts int // DB_TX_MAX_ATTEMPTS

	MetricsToken string // METRICS_TOKEN: when set, /metrics wants "Bearer <token>"

	AuditSealInterval time.Duration // AUDIT_SEAL_INTERVAL_MS

	// Identity.
	SessionTTL        time.Duration // SESSION_TTL_SECONDS: absolute session life
	CookieIdleTTL     time.Duration // COOKIE_IDLE_SECONDS: web session idle timeout
	StepUpWindow      time.Duration // STEP_UP_WINDOW_SECONDS: how recent an MFA check sensitive actions need
	CookieSecure      bool          // COOKIE_SECURE: mark session cookies Secure (default: on in production or with TLS)
	LockoutThreshold  int           // LOCKOUT_THRESHOLD: consecutive failed logins before a lockout
	LockoutBase       time.Duration // LOCKOUT_BASE_SECONDS: first lockout; each next one doubles
	LockoutMax        time.Duration // LOCKOUT_MAX_SECONDS: longest lockout
	AuthRatePerIP     int           // AUTH_RATE_PER_MINUTE_IP: auth requests a minute per client IP (0: off)
	AuthRatePerEmail  int           // AUTH_RATE_PER_MINUTE_ACCOUNT: login attempts a minute per email (0: off)
	Argon2MemoryKiB   int           // ARGON2_MEMORY_KIB
	Argon2Iterations  int           // ARGON2_ITERATIONS
	Argon2Parallelism int           // ARGON2_PARALLELISM
	HashConcurrency   int           // PASSWORD_HASH_CONCURRENCY: simultaneous password hashes (0: half the CPUs, at least 1)
	KeyringFile       string        // KEYRING_FILE: data-encryption keys ("id:base64key" lines; first is primary)
	SessionCacheTTL   time.Duration // SESSION_CACHE_TTL_MS: how long a validated session is trusted without a query

	// Ledger.
	IdempotencyRetention time.Duration // IDEMPOTENCY_RETENTION_HOURS: how long Idempotency-Key records are kept
	LedgerMaxBatch       int           // LEDGER_MAX_BATCH: operations per group-commit transaction
	LedgerLinger         time.Duration // LEDGER_LINGER_US: longest wait for a batch to fill while callers are active

	// Controls: APPROVAL_THRESHOLDS, APPROVAL_EXPIRY_HOURS,
	// STEP_UP_THRESHOLDS, TRANSFER_LIMITS (see package policy).
	Policy policy.Policy
	// RiskRulesFile (RISK_RULES_FILE) names a JSON file of fraud and
	// velocity rules replacing the defaults; RiskReviewScore
	// (RISK_REVIEW_SCORE, -1 when unset) overrides its review score.
	RiskRulesFile   string
	RiskReviewScore int
	// RiskHistoryCache (RISK_HISTORY_CACHE_MS) is how long a customer's
	// history, as the rules read it, is kept in memory; 0 reads it for
	// every transfer.
	RiskHistoryCache time.Duration
	// OutboxRetention (OUTBOX_RETENTION_HOURS) is how long delivered domain
	// events are kept.
	OutboxRetention time.Duration
}

// Production reports whether the process runs in production mode.
func (c Config) Production() bool { return c.Env == EnvProduction }

// TLS reports whether the server terminates TLS itself.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// Error lists every invalid variable.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// Load reads the configuration from getenv and validates it. It does not
// touch the file system; call ResolveSecret afterwards.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Env:               strings.ToLower(p.str("FISCUS_ENV", EnvDev)),
		DataDir:           p.str("FISCUS_DATA_DIR", "data"),
		AppSecret:         getenv("APP_SECRET"),
		LogLevel:          p.str("LOG_LEVEL", "info"),
		TLSCertFile:       getenv("TLS_CERT_FILE"),
		TLSKeyFile:        getenv("TLS_KEY_FILE"),
		CORSOrigins:       p.list("CORS_ALLOWED_ORIGINS"),
		TokenTTL:          p.seconds("TOKEN_TTL_SECONDS", 900, 30, 24*3600),
		MaxBodyBytes:      int64(p.integer("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20)),
		ShutdownTimeout:   p.seconds("SHUTDOWN_TIMEOUT_SECONDS", 30, 1, 600),
		RequestTimeout:    p.seconds("REQUEST_TIMEOUT_SECONDS", 30, 1, 600),
		MigrateOnStart:    p.boolean("MIGRATE_ON_START", true),
		DBMaxConns:        p.integer("DB_MAX_CONNS", 16, 1, 1000),
		DBTxMaxAttempts:   p.integer("DB_TX_MAX_ATTEMPTS", 8, 1, 100),
		MetricsToken:      getenv("METRICS_TOKEN"),
		AuditSealInterval: time.Duration(p.integer("AUDIT_SEAL_INTERVAL_MS", 500, 10, 60_000)) * time.Millisecond,
	}
	c.SeedDemoData = p.boolean("SEED_DEMO_DATA", c.Env == EnvDev)
	c.SessionTTL = p.seconds("SESSION_TTL_SECONDS", 30*24*3600, 300, 365*24*3600)
	c.CookieIdleTTL = p.seconds("COOKIE_IDLE_SECONDS", 12*3600, 60, 30*24*3600)
	c.StepUpWindow = p.seconds("STEP_UP_WINDOW_SECONDS", 300, 30, 3600)
	c.CookieSecure = p.boolean("COOKIE_SECURE", c.Env == EnvProduction || c.TLSCertFile != "")
	c.LockoutThreshold = p.integer("LOCKOUT_THRESHOLD", 5, 1, 100)
	c.LockoutBase = p.seconds("LOCKOUT_BASE_SECONDS", 60, 1, 24*3600)
	c.LockoutMax = p.seconds("LOCKOUT_MAX_SECONDS", 3600, 1, 7*24*3600)
	c.AuthRatePerIP = p.integer("AUTH_RATE_PER_MINUTE_IP", 30, 0, 1_000_000)
	c.AuthRatePerEmail = p.integer("AUTH_RATE_PER_MINUTE_ACCOUNT", 10, 0, 1_000_000)
	c.Argon2MemoryKiB = p.integer("ARGON2_MEMORY_KIB", 19456, 8, 1<<20)
	c.Argon2Iterations = p.integer("ARGON2_ITERATIONS", 2, 1, 100)
	c.Argon2Parallelism = p.integer("ARGON2_PARALLELISM", 1, 1, 255)
	c.HashConcurrency = p.integer("PASSWORD_HASH_CONCURRENCY", 0, 0, 1024)
	c.KeyringFile = getenv("KEYRING_FILE")
	c.SessionCacheTTL = time.Duration(p.integer("SESSION_CACHE_TTL_MS", 2000, 0, 60_000)) * time.Millisecond
	c.IdempotencyRetention = time.Duration(p.integer("IDEMPOTENCY_RETENTION_HOURS", 24, 1, 24*90)) * time.Hour
	c.LedgerMaxBatch = p.integer("LEDGER_MAX_BATCH", 256, 1, 4096)
	c.LedgerLinger = time.Duration(p.integer("LEDGER_LINGER_US", 1000, 0, 100_000)) * time.Microsecond
	c.Policy.PendingTTL = time.Duration(p.integer("APPROVAL_EXPIRY_HOURS", 72, 1, 24*90)) * time.Hour
	var err error
	if c.Policy.Approval, err = policy.ParseApproval(p.str("APPROVAL_THRESHOLDS", policy.DefaultApproval)); err != nil {
		p.fail("APPROVAL_THRESHOLDS", "%v", err)
	}
	if c.Policy.StepUpAbove, err = policy.ParseStepUp(p.str("STEP_UP_THRESHOLDS", policy.DefaultStepUp)); err != nil {
		p.fail("STEP_UP_THRESHOLDS", "%v", err)
	}
	if c.Policy.Limits, err = policy.ParseLimits(p.str("TRANSFER_LIMITS", policy.DefaultLimits)); err != nil {
		p.fail("TRANSFER_LIMITS", "%v", err)
	}
	c.RiskRulesFile = getenv("RISK_RULES_FILE")
	c.OutboxRetention = time.Duration(p.integer("OUTBOX_RETENTION_HOURS", 168, 1, 24*365)) * time.Hour
	c.RiskReviewScore = p.integer("RISK_REVIEW_SCORE", -1, -1, 1_000_000)
	c.RiskHistoryCache = time.Duration(p.integer("RISK_HISTORY_CACHE_MS", 1000, 0, 60_000)) * time.Millisecond
	c.DatabaseURL = p.str("DATABASE_URL", "sqlite:///"+filepath.ToSlash(filepath.Join(c.DataDir, "fiscus.db")))
	c.Addr = getenv("ADDR")
	if c.Addr == "" {
		if port := strings.TrimSpace(getenv("PORT")); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				p.fail("PORT", "%q is not a port number", port)
			}
			c.Addr = ":" + port
		} else {
			c.Addr = ":8080"
		}
	}
	for _, s := range p.list("TRUSTED_PROXIES") {
		if !strings.Contains(s, "/") {
			if strings.Contains(s, ":") {
				s += "/128"
			} else {
				s += "/32"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			p.fail("TRUSTED_PROXIES", "%q is not an IP address or CIDR", s)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	p.problems = append(p.problems, c.check()...)
	if len(p.problems) > 0 {
		return c, &Error{Problems: p.problems}
	}
	return c, nil
}

// Validate re-checks a Config after flags changed it.
func (c Config) Validate() error {
	if ps := c.check(); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

func (c Config) check() []string {
	var ps []string
	bad := func(name, format string, args ...any) {
		ps = append(ps, name+": "+fmt.Sprintf(format, args...))
	}
	switch c.Env {
	case EnvDev, EnvProduction:
	default:
		bad("FISCUS_ENV", "must be %q or %q, not %q", EnvDev, EnvProduction, c.Env)
	}
	if c.Production() {
		if c.AppSecret == "" {
			bad("APP_SECRET", "is required in production mode (at least %d random characters, e.g. `openssl rand -hex 32`)", MinSecretLen)
		}
		if c.SeedDemoData {
			bad("SEED_DEMO_DATA", "demo data is never seeded in production mode")
		}
	}
	if c.AppSecret != "" {
		if msg := weakSecret(c.AppSecret); msg != "" {
			bad("APP_SECRET", "%s", msg)
		}
	}
	if _, _, err := ParseDatabaseURL(c.DatabaseURL); err != nil {
		bad("DATABASE_URL", "%v", err)
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("ADDR", "%q is not host:port (%v)", c.Addr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("ADDR", "%q does not end in a port number", c.Addr)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if o == "*" {
			bad("CORS_ALLOWED_ORIGINS", "a wildcard origin is not allowed; list origins explicitly")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("CORS_ALLOWED_ORIGINS", "%q is not an origin like https://app.example.com", o)
		}
	}
	if c.LockoutMax < c.LockoutBase {
		bad("LOCKOUT_MAX_SECONDS", "must not be shorter than LOCKOUT_BASE_SECONDS")
	}
	if c.Production() && !c.CookieSecure {
		bad("COOKIE_SECURE", "must be true in production (serve over TLS or behind a TLS-terminating proxy)")
	}
	if c.DataDir == "" {
		bad("FISCUS_DATA_DIR", "must not be empty")
	}
	return ps
}

// weakSecret explains why s is too weak, or returns "".
func weakSecret(s string) string {
	if len(s) < MinSecretLen {
		return fmt.Sprintf("is too short (%d characters; at least %d required)", len(s), MinSecretLen)
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	if len(distinct) < 10 {
		return "has too few distinct characters to be random"
	}
	lower := strings.ToLower(s)
	for _, w := range []string{"changeme", "change-me", "change_me", "secret", "password", "example"} {
		if strings.Contains(lower, w) {
			return fmt.Sprintf("looks like a placeholder (contains %q)", w)
		}
	}
	return ""
}

// Engines named by DATABASE_URL.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// ParseDatabaseURL returns the engine and the driver DSN for a DATABASE_URL:
// sqlite:///relative/or/absolute/path.db (sqlite://relative.db also works),
// postgres:// or postgresql://.
func ParseDatabaseURL(raw string) (engine, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", errors.New("is not a valid postgres:// URL")
		}
		return EnginePostgres, raw, nil
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		// sqlite:///abs/path → "/abs/path"; sqlite:///rel/path has a leading
		// slash we keep only if the rest is absolute by convention (four
		// slashes). Three slashes mean a path relative to the working dir
		// unless the remainder itself starts with "/".
		if strings.HasPrefix(path, "//") {
			path = path[1:] // sqlite:////abs → /abs
		} else {
			path = strings.TrimPrefix(path, "/")
		}
		if q := strings.IndexByte(path, '?'); q >= 0 {
			return "", "", errors.New("sqlite URLs take no query parameters; Fiscus sets the pragmas itself")
		}
		if path == "" {
			return "", "", errors.New("sqlite URL has no file path (want sqlite:///data/fiscus.db)")
		}
		return EngineSQLite, path, nil
	case raw == "":
		return "", "", errors.New("must be set")
	}
	return "", "", fmt.Errorf("unsupported scheme in %q (want sqlite:///path/file.db or postgres://...)", redactURL(raw))
}

// ResolveSecret fills AppSecret in dev mode when it is unset: it reads the
// secret kept in DataDir, or generates a random one and keeps it there (mode
// 0600) so sessions survive restarts. In production it only checks presence.
func (c *Config) ResolveSecret() error {
	if c.AppSecret != "" {
		return nil
	}
	if c.Production() {
		return &Error{Problems: []string{"APP_SECRET: is required in production mode"}}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("FISCUS_DATA_DIR: create %s: %w", c.DataDir, err)
	}
	path := filepath.Join(c.DataDir, devSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if msg := weakSecret(s); msg != "" {
			return fmt.Errorf("dev secret in %s %s; delete the file to regenerate it", path, msg)
		}
		c.AppSecret = s
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read dev secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate dev secret: %w", err)
	}
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.ResolveSecret() // another process won the race; read theirs
	}
	if err != nil {
		return fmt.Errorf("write dev secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write dev secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write dev secret: %w", err)
	}
	c.AppSecret = s
	return nil
}

// String renders the configuration with secrets masked.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	return fmt.Sprintf("env=%s addr=%s data_dir=%s database_url=%s app_secret=%s tls=%t log_level=%s cors=%v token_ttl=%s metrics_token=%s",
		c.Env, c.Addr, c.DataDir, redactURL(c.DatabaseURL), mask(c.AppSecret), c.TLS(), c.LogLevel, c.CORSOrigins, c.TokenTTL, mask(c.MetricsToken))
}

// redactURL hides the password of a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// RedactURL hides the password of a database URL for logs and errors.
func RedactURL(raw string) string { return redactURL(raw) }

type parser struct {
	getenv   func(string) string
	problems []string
}

func (p *parser) fail(name, format string, args ...any) {
	p.problems = append(p.problems, name+": "+fmt.Sprintf(format, args...))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) list(name string) []string {
	var out []string
	for _, s := range strings.Split(p.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, "%q is not an integer", v)
		return def
	}
	if n < lo || n > hi {
		p.fail(name, "%d is out of range [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

func (p *parser) seconds(name string, def, lo, hi int) time.Duration {
	return time.Duration(p.integer(name, def, lo, hi)) * time.Second
}

func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q is not a boolean (true or false)", v)
		return def
	}
	return b
}
