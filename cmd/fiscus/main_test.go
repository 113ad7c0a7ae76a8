package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fiscus/fiscus/internal/store/storetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real fiscus binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fiscus-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "fiscus")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

// cleanEnv is a minimal environment so the developer's variables do not leak
// into the process under test.
func cleanEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extra...)
}

func TestProductionWithoutSecretExitsNonZero(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary(t))
	cmd.Env = cleanEnv("FISCUS_ENV=production", "FISCUS_DATA_DIR="+t.TempDir(), "ADDR=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit = %v, want non-zero", err)
	}
	if !strings.Contains(stderr.String(), "APP_SECRET") {
		t.Fatalf("stderr does not name APP_SECRET:\n%s", stderr.String())
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary(t), "frobnicate")
	cmd.Env = cleanEnv()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit = %v, want 2", err)
	}
}

// A fresh start in dev mode: no configuration at all, the server comes up
// with a SQLite file and a generated secret in the data directory, answers
// /health, and exits 0 on SIGTERM.
func TestServeFreshStartAndSIGTERM(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binary(t))
	cmd.Env = cleanEnv("FISCUS_DATA_DIR="+dataDir, "ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := listenURL(t, stdout)

	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("/health = %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/health/ready")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health/ready = %v %v", resp, err)
	}
	resp.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM = %v, want 0\n%s", err, stderr.String())
	}
	for _, f := range []string{"fiscus.db", "app_secret"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"shutdown complete"`) {
		t.Errorf("no clean shutdown logged:\n%s", stderr.String())
	}
}

var listenLine = regexp.MustCompile(`listening on (https?://\S+)`)

// listenURL reads the process's stdout until it announces its address.
func listenURL(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return m[1]
		}
	}
	t.Fatalf("server never announced its address (%v)", sc.Err())
	return ""
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			url := storetest.URL(t, e)
			getenv := func(k string) string {
				switch k {
				case "DATABASE_URL":
					return url
				case "FISCUS_DATA_DIR":
					return t.TempDir()
				}
				return ""
			}
			runOK := func(args ...string) string {
				t.Helper()
				var out, errOut bytes.Buffer
				if err := run(context.Background(), args, getenv, &out, &errOut); err != nil {
					t.Fatalf("fiscus %v: %v\n%s", args, err, errOut.String())
				}
				return out.String()
			}
			if s := runOK("migrate", "status", "--log-level", "warn"); !strings.Contains(s, "pending") {
				t.Fatalf("fresh status shows nothing pending:\n%s", s)
			}
			if s := runOK("migrate", "up"); !strings.Contains(s, "applied") {
				t.Fatalf("up: %s", s)
			}
			if s := runOK("migrate", "status"); !strings.Contains(s, ", 0 pending") {
				t.Fatalf("status after up:\n%s", s)
			}
			if s := runOK("migrate", "down"); !strings.Contains(s, "rolled back 1") {
				t.Fatalf("down: %s", s)
			}
			if s := runOK("migrate", "status"); !strings.Contains(s, ", 1 pending") {
				t.Fatalf("status after down:\n%s", s)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"migrate", "sideways"}, getenv, &out, &out)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("bad subcommand: %v", err)
			}
		})
	}
}

func TestServerGCPercent(t *testing.T) {
	if pct, set := serverGCPercent(""); !set || pct != defaultServerGCPercent {
		t.Errorf("GOGC unset: %d %t, want %d", pct, set, defaultServerGCPercent)
	}
	for _, v := range []string{"100", "off", "50"} {
		if _, set := serverGCPercent(v); set {
			t.Errorf("GOGC=%s: serve overrides the operator's setting", v)
		}
	}
}
