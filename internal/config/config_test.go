package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodSecret = "k9Zq2Lx7Vb4Nw1Rt8Ys3Pm6Hd0Fg5Jc_-A"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != EnvDev || c.Addr != ":8080" || c.DataDir != "data" || !c.MigrateOnStart || !c.SeedDemoData {
		t.Fatalf("defaults = %+v", c)
	}
	engine, dsn, err := ParseDatabaseURL(c.DatabaseURL)
	if err != nil || engine != EngineSQLite || dsn != "data/fiscus.db" {
		t.Fatalf("default database %q → %s %s %v", c.DatabaseURL, engine, dsn, err)
	}
	if c.TokenTTL.Minutes() != 15 {
		t.Fatalf("token TTL = %s", c.TokenTTL)
	}
	if c.RiskHistoryCache != time.Second {
		t.Fatalf("risk history cache = %s", c.RiskHistoryCache)
	}
	c, err = Load(env(map[string]string{"RISK_HISTORY_CACHE_MS": "0"}))
	if err != nil || c.RiskHistoryCache != 0 {
		t.Fatalf("RISK_HISTORY_CACHE_MS=0: %s %v", c.RiskHistoryCache, err)
	}
}

func TestPortAndAddr(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"PORT": "9090"}))
	if err != nil || c.Addr != ":9090" {
		t.Fatalf("PORT: %q %v", c.Addr, err)
	}
	c, err = Load(env(map[string]string{"PORT": "9090", "ADDR": "127.0.0.1:7070"}))
	if err != nil || c.Addr != "127.0.0.1:7070" {
		t.Fatalf("ADDR wins: %q %v", c.Addr, err)
	}
}

func TestProblemsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"FISCUS_ENV": "production"}, "APP_SECRET: is required in production"},
		{map[string]string{"FISCUS_ENV": "production", "APP_SECRET": goodSecret, "SEED_DEMO_DATA": "true"}, "SEED_DEMO_DATA"},
		{map[string]string{"FISCUS_ENV": "staging"}, "FISCUS_ENV"},
		{map[string]string{"APP_SECRET": "short"}, "APP_SECRET: is too short"},
		{map[string]string{"APP_SECRET": strings.Repeat("ab", 20)}, "APP_SECRET: has too few distinct"},
		{map[string]string{"APP_SECRET": "changeme-0123456789abcdefghijklmnopq"}, "APP_SECRET: looks like a placeholder"},
		{map[string]string{"TOKEN_TTL_SECONDS": "abc"}, "TOKEN_TTL_SECONDS"},
		{map[string]string{"TOKEN_TTL_SECONDS": "5"}, "TOKEN_TTL_SECONDS: 5 is out of range"},
		{map[string]string{"MAX_BODY_BYTES": "-1"}, "MAX_BODY_BYTES"},
		{map[string]string{"MIGRATE_ON_START": "perhaps"}, "MIGRATE_ON_START"},
		{map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL: unsupported scheme"},
		{map[string]string{"DATABASE_URL": "sqlite:///x.db?_pragma=foo"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "sqlite://"}, "DATABASE_URL"},
		{map[string]string{"ADDR": "nonsense"}, "ADDR"},
		{map[string]string{"TLS_CERT_FILE": "/c.pem"}, "TLS_CERT_FILE and TLS_KEY_FILE"},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS: a wildcard"},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "app.example.com"}, "CORS_ALLOWED_ORIGINS"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/99"}, "TRUSTED_PROXIES"},
		{map[string]string{"APPROVAL_THRESHOLDS": "USD:10"}, "APPROVAL_THRESHOLDS"},
		{map[string]string{"APPROVAL_EXPIRY_HOURS": "0"}, "APPROVAL_EXPIRY_HOURS"},
		{map[string]string{"STEP_UP_THRESHOLDS": "USD:1.001"}, "STEP_UP_THRESHOLDS"},
		{map[string]string{"TRANSFER_LIMITS": "standard:USD:1:2"}, "TRANSFER_LIMITS"},
		{map[string]string{"RISK_REVIEW_SCORE": "-5"}, "RISK_REVIEW_SCORE"},
		{map[string]string{"RISK_HISTORY_CACHE_MS": "-1"}, "RISK_HISTORY_CACHE_MS"},
		{map[string]string{"RISK_HISTORY_CACHE_MS": "60001"}, "RISK_HISTORY_CACHE_MS"},
	}
	for _, c := range cases {
		_, err := Load(env(c.env))
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%v) = %v, want an error containing %q", c.env, err, c.want)
		}
	}
	// Several problems are reported together.
	_, err := Load(env(map[string]string{"FISCUS_ENV": "production", "PORT": "x", "LOG_LEVEL": "info", "DB_MAX_CONNS": "0"}))
	for _, want := range []string{"APP_SECRET", "PORT", "ADDR", "DB_MAX_CONNS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("combined error %v lacks %s", err, want)
		}
	}
}

func TestProductionIsValidWithASecret(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"FISCUS_ENV": "production", "APP_SECRET": goodSecret,
		"DATABASE_URL": "postgres://fiscus:hunter2@db:5432/fiscus", "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SeedDemoData {
		t.Fatal("production seeds demo data by default")
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.0.2.1/32" {
		t.Fatalf("trusted proxies = %v", c.TrustedProxies)
	}
	s := c.String()
	if strings.Contains(s, goodSecret) || strings.Contains(s, "hunter2") {
		t.Fatalf("String leaks a secret: %s", s)
	}
	if err := c.ResolveSecret(); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseURLForms(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ engine, dsn string }{
		"sqlite:///data/fiscus.db":                 {EngineSQLite, "data/fiscus.db"},
		"sqlite:////var/lib/fiscus/fiscus.db":      {EngineSQLite, "/var/lib/fiscus/fiscus.db"},
		"sqlite://fiscus.db":                       {EngineSQLite, "fiscus.db"},
		"postgres://u:p@h:5432/db?sslmode=disable": {EnginePostgres, "postgres://u:p@h:5432/db?sslmode=disable"},
		"postgresql://h/db":                        {EnginePostgres, "postgresql://h/db"},
	}
	for in, want := range cases {
		e, d, err := ParseDatabaseURL(in)
		if err != nil || e != want.engine || d != want.dsn {
			t.Errorf("ParseDatabaseURL(%q) = %s %s %v, want %s %s", in, e, d, err, want.engine, want.dsn)
		}
	}
}

func TestDevSecretIsGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	c, err := Load(env(map[string]string{"FISCUS_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveSecret(); err != nil {
		t.Fatal(err)
	}
	if len(c.AppSecret) < MinSecretLen {
		t.Fatalf("generated secret too short: %d", len(c.AppSecret))
	}
	fi, err := os.Stat(filepath.Join(dir, "app_secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	again, _ := Load(env(map[string]string{"FISCUS_DATA_DIR": dir}))
	if err := again.ResolveSecret(); err != nil || again.AppSecret != c.AppSecret {
		t.Fatalf("second start got a different secret (%v)", err)
	}
	other, _ := Load(env(map[string]string{"FISCUS_DATA_DIR": t.TempDir()}))
	if err := other.ResolveSecret(); err != nil || other.AppSecret == c.AppSecret {
		t.Fatal("two data directories share a secret: it is not random")
	}
	// A tampered, weak secret file is refused rather than used.
	weakDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(weakDir, "app_secret"), []byte("weak\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	weak, _ := Load(env(map[string]string{"FISCUS_DATA_DIR": weakDir}))
	if err := weak.ResolveSecret(); err == nil {
		t.Fatal("weak dev secret accepted")
	}
}
