package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// auditEnv is the environment of one `fiscus audit verify` test: a fresh,
// migrated database of the given engine.
func auditEnv(t *testing.T, engine store.Dialect) (func(string) string, *store.DB) {
	t.Helper()
	env := map[string]string{
		"FISCUS_ENV":      "dev",
		"FISCUS_DATA_DIR": t.TempDir(),
		"DATABASE_URL":    storetest.URL(t, engine),
		"LOG_LEVEL":       "error",
	}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "up"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, errOut.String())
	}
	db, err := store.Open(context.Background(), env["DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return getenv, db
}

func recordEvents(t *testing.T, db *store.DB, n int) []string {
	t.Helper()
	var ids []string
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		ids = ids[:0]
		for i := range n {
			id, err := audit.Record(context.Background(), tx, audit.Event{
				At:        time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC),
				ActorKind: audit.ActorUser, ActorID: "usr_1", Action: "auth.login_succeeded",
				TargetType: "user", TargetID: fmt.Sprintf("usr_%d", i), IP: "192.0.2.1",
			})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func runVerify(getenv func(string) string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"audit", "verify"}, args...), getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			getenv, db := auditEnv(t, engine)
			ids := recordEvents(t, db, 6)

			// --no-seal verifies what is sealed (nothing) and reports the rest.
			out, _, err := runVerify(getenv, "--no-seal")
			if err != nil || !strings.Contains(out, "0 sealed event(s) verified") || !strings.Contains(out, "6 event(s) not sealed yet") {
				t.Fatalf("--no-seal: %v\n%s", err, out)
			}
			// By default it seals first, then verifies everything.
			out, _, err = runVerify(getenv)
			if err != nil || !strings.Contains(out, "sealed 6 pending event(s)") || !strings.Contains(out, "audit chain intact") ||
				!strings.Contains(out, "6 sealed event(s) verified") || strings.Contains(out, "not sealed yet") {
				t.Fatalf("verify: %v\n%s", err, out)
			}
			// The printed checkpoint pins the chain.
			_, cpText, ok := strings.Cut(out, "checkpoint ")
			cp := strings.Fields(cpText)
			if !ok || len(cp) == 0 {
				t.Fatalf("no checkpoint in\n%s", out)
			}
			if out, _, err := runVerify(getenv, "--checkpoint", cp[0]); err != nil {
				t.Fatalf("verify against its own checkpoint: %v\n%s", err, out)
			}

			// Tampering: the command fails, naming the first bad event.
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Write(context.Background(), func(tx *store.Tx) error {
					_, err := tx.Exec(context.Background(), q, args...)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			exec(`UPDATE audit_events SET action = 'auth.logout' WHERE seq = 3`)
			out, _, err = runVerify(getenv)
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), "seq 3 ("+ids[2]+")") || !strings.Contains(err.Error(), "hash_mismatch") {
				t.Fatalf("after tampering: err = %v", err)
			}
			if !strings.Contains(out, "BROKEN") || !strings.Contains(out, "2 event(s) verified before the first bad one") {
				t.Fatalf("after tampering, stdout:\n%s", out)
			}
			// Truncating the tail: the sealer refuses to extend the chain and
			// verification names where it ends.
			exec(`UPDATE audit_events SET action = 'auth.login_succeeded' WHERE seq = 3`)
			exec(`DELETE FROM audit_events WHERE seq >= 5`)
			recordEvents(t, db, 1)
			out, errText, err := runVerify(getenv)
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), "seq 5") || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("after truncation: err = %v\n%s", err, out)
			}
			if !strings.Contains(errText, "not sealing") {
				t.Fatalf("stderr does not say why nothing was sealed:\n%s", errText)
			}
			if _, _, err := runVerify(getenv, "--checkpoint", cp[0], "--no-seal"); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("against the old checkpoint: %v", err)
			}
		})
	}
}

func TestAuditCommandUsage(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, args := range [][]string{{"audit"}, {"audit", "frob"}, {"audit", "verify", "extra"}, {"audit", "verify", "--checkpoint", "12:zz"}} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, getenv, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

func TestAuditVerifyNeedsCurrentSchema(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FISCUS_DATA_DIR": t.TempDir(), "DATABASE_URL": storetest.URL(t, store.SQLite)}
	_, _, err := runVerify(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "fiscus migrate up") {
		t.Fatalf("err = %v, want a hint to migrate", err)
	}
}
