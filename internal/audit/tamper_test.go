package audit_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// chainLen is the length of the chain each tampering case starts from.
const chainLen = 10

// chain is a sealed chain as it was before tampering, by seq (index 0 unused).
type chain []audit.Entry

func (c chain) id(seq int64) string { return c[seq].ID }

// forge inserts an event at seq with the given prev_hash and hash.
func forge(t *testing.T, db *store.DB, seq int64, prev, hash []byte) string {
	t.Helper()
	e := event(99)
	ids := record(t, db, e)
	exec(t, db, `UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?`, seq, prev, hash, ids[0])
	return ids[0]
}

// forgeValid inserts an event at seq that links to prev with a correctly
// computed hash, as an attacker who knows the algorithm would.
func forgeValid(t *testing.T, db *store.DB, seq int64, prev []byte) (string, []byte) {
	t.Helper()
	id := forge(t, db, seq, prev, make([]byte, audit.HashSize))
	var e audit.Entry
	_ = db.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		e, err = audit.Get(context.Background(), tx, id)
		return err
	})
	h := audit.ChainHash(prev, seq, e)
	exec(t, db, `UPDATE audit_events SET hash = ? WHERE id = ?`, h, id)
	return id, h
}

// shift renumbers events from seq on by delta, as an attacker making room
// (or closing a gap) would; two steps keep the UNIQUE constraint happy.
func shift(t *testing.T, db *store.DB, from, delta int64) {
	t.Helper()
	exec(t, db, `UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= ?`, from)
	exec(t, db, `UPDATE audit_events SET seq = seq - 1000000 + ? WHERE seq >= 1000000`, delta)
}

// Every way of editing the table directly is detected, and verify names
// the first bad event.
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	type want struct {
		kind audit.ProblemKind
		seq  int64
		id   string // "" when the event at seq is gone
		// detail, when set, must appear in the problem's detail.
		detail string
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *store.DB, c chain) want
	}{
		{"update a field", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET actor_id = 'usr_mallory' WHERE seq = 4`)
			return want{audit.ProblemHashMismatch, 4, c.id(4), ""}
		}},
		{"update the details", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET details = '{"after":{"status":"rejected"}}' WHERE seq = 7`)
			return want{audit.ProblemHashMismatch, 7, c.id(7), ""}
		}},
		{"update the time", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET at = at + 1 WHERE seq = 1`)
			return want{audit.ProblemHashMismatch, 1, c.id(1), ""}
		}},
		{"update the first of two events", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET ip = '192.0.2.1' WHERE seq IN (3, 8)`)
			return want{audit.ProblemHashMismatch, 3, c.id(3), ""}
		}},
		{"update a field and recompute its hash", func(t *testing.T, db *store.DB, c chain) want {
			e := c[4]
			e.Action = "auth.logout"
			exec(t, db, `UPDATE audit_events SET action = ?, hash = ? WHERE seq = 4`, e.Action, audit.ChainHash(e.PrevHash, 4, e))
			return want{audit.ProblemBrokenLink, 5, c.id(5), c.id(4)}
		}},
		{"update the last event and the head", func(t *testing.T, db *store.DB, c chain) want {
			e := c[chainLen]
			e.TargetID = "trf_other"
			h := audit.ChainHash(e.PrevHash, chainLen, e)
			exec(t, db, `UPDATE audit_events SET target_id = ?, hash = ? WHERE seq = ?`, e.TargetID, h, chainLen)
			exec(t, db, `UPDATE audit_head SET hash = ?`, h)
			// Undetectable without a checkpoint: see the package comment and
			// TestCheckpointCatchesRewrites.
			return want{}
		}},
		{"delete an event", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_events WHERE seq = 5`)
			return want{audit.ProblemMissing, 5, "", c.id(6)}
		}},
		{"delete the first event", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_events WHERE seq = 1`)
			return want{audit.ProblemMissing, 1, "", c.id(2)}
		}},
		{"delete an event and close the gap", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_events WHERE seq = 5`)
			shift(t, db, 6, -1)
			exec(t, db, `UPDATE audit_head SET seq = seq - 1`)
			return want{audit.ProblemBrokenLink, 5, c.id(6), c.id(4)}
		}},
		{"unseal an event", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 6`)
			return want{audit.ProblemMissing, 6, "", c.id(7)}
		}},
		{"truncate the tail", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_events WHERE seq > 7`)
			return want{audit.ProblemTruncated, 8, "", "head records seq 10"}
		}},
		{"delete every event", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_events`)
			return want{audit.ProblemTruncated, 1, "", ""}
		}},
		{"insert a forged event with a made-up hash", func(t *testing.T, db *store.DB, c chain) want {
			shift(t, db, 4, 1)
			id := forge(t, db, 4, c[3].Hash, bytes.Repeat([]byte{7}, audit.HashSize))
			return want{audit.ProblemHashMismatch, 4, id, ""}
		}},
		{"insert a forged event with a valid hash", func(t *testing.T, db *store.DB, c chain) want {
			shift(t, db, 4, 1)
			id, _ := forgeValid(t, db, 4, c[3].Hash)
			exec(t, db, `UPDATE audit_head SET seq = seq + 1`)
			// The forged event itself links and hashes correctly; the break
			// shows at its successor, and the detail names the forged one.
			return want{audit.ProblemBrokenLink, 5, c.id(4), id}
		}},
		{"append a forged event after the last", func(t *testing.T, db *store.DB, c chain) want {
			id, _ := forgeValid(t, db, chainLen+1, c[chainLen].Hash)
			return want{audit.ProblemBeyondHead, chainLen + 1, id, ""}
		}},
		{"swap two events", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET seq = 1000 WHERE seq = 3`)
			exec(t, db, `UPDATE audit_events SET seq = 3 WHERE seq = 7`)
			exec(t, db, `UPDATE audit_events SET seq = 7 WHERE seq = 1000`)
			return want{audit.ProblemBrokenLink, 3, c.id(7), c.id(2)}
		}},
		{"swap two adjacent events", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET seq = 1000 WHERE seq = 9`)
			exec(t, db, `UPDATE audit_events SET seq = 9 WHERE seq = 10`)
			exec(t, db, `UPDATE audit_events SET seq = 10 WHERE seq = 1000`)
			return want{audit.ProblemBrokenLink, 9, c.id(10), ""}
		}},
		{"swap two events' contents", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET target_id = 'tmp' WHERE seq = 2`)
			exec(t, db, `UPDATE audit_events SET target_id = ? WHERE seq = 6`, c[2].TargetID)
			exec(t, db, `UPDATE audit_events SET target_id = ? WHERE seq = 2`, c[6].TargetID)
			return want{audit.ProblemHashMismatch, 2, c.id(2), ""}
		}},
		{"alter a prev_hash", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET prev_hash = ? WHERE seq = 6`, bytes.Repeat([]byte{1}, audit.HashSize))
			return want{audit.ProblemBrokenLink, 6, c.id(6), ""}
		}},
		{"alter a stored hash", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET hash = ? WHERE seq = 2`, bytes.Repeat([]byte{2}, audit.HashSize))
			return want{audit.ProblemHashMismatch, 2, c.id(2), ""}
		}},
		{"renumber an event", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_events SET seq = 20 WHERE seq = 10`)
			exec(t, db, `UPDATE audit_head SET seq = 20`)
			return want{audit.ProblemMissing, 10, "", c.id(10)}
		}},
		{"rewrite the head", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `UPDATE audit_head SET hash = ?`, bytes.Repeat([]byte{3}, audit.HashSize))
			return want{audit.ProblemHeadMismatch, chainLen, c.id(chainLen), ""}
		}},
		{"delete the head", func(t *testing.T, db *store.DB, c chain) want {
			exec(t, db, `DELETE FROM audit_head`)
			return want{audit.ProblemHeadMissing, chainLen, c.id(chainLen), ""}
		}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tt := range tests {
			t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
				exec(t, db, `DELETE FROM audit_events`)
				exec(t, db, `DELETE FROM audit_head`)
				exec(t, db, `INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)`, make([]byte, audit.HashSize))
				recordN(t, db, chainLen)
				seal(t, db)
				verifyOK(t, db)
				c := make(chain, chainLen+1)
				for seq := int64(1); seq <= chainLen; seq++ {
					c[seq] = entryAt(t, db, seq)
				}

				w := tt.tamper(t, db, c)
				if w.kind == "" {
					verifyOK(t, db)
					return
				}
				// One reader, and the chain split into ranges of 2 or 3
				// events read in parallel: the same first problem.
				var p audit.Problem
				for _, opt := range []audit.Options{{Workers: 1}, audit.SplitShortChains(audit.Options{Workers: 4}, 2), audit.SplitShortChains(audit.Options{Workers: 3}, 3)} {
					p = verifyBroken(t, db, opt)
					if p.Kind != w.kind || p.Seq != w.seq || p.ID != w.id {
						t.Fatalf("workers %d: problem %s\nwant kind %s at seq %d (%q)", opt.Workers, p, w.kind, w.seq, w.id)
					}
					if !strings.Contains(p.Detail, w.detail) {
						t.Fatalf("workers %d: problem %s\nwant the detail to mention %q", opt.Workers, p, w.detail)
					}
				}
				// Tampering stays detected after more events are sealed (or
				// the sealer refuses to extend a chain whose head is off).
				recordN(t, db, 2)
				if _, err := newSealer(db).SealOnce(context.Background()); err != nil && !errors.Is(err, audit.ErrHeadMismatch) {
					t.Fatalf("seal after tampering: %v", err)
				}
				if p2 := verifyBroken(t, db, audit.Options{}); p2.Seq > p.Seq {
					t.Fatalf("after sealing more, the first problem moved from seq %d to %s", p.Seq, p2)
				}
			})
		}
	})
}

// A consistent rewrite (every hash after the change recomputed, head
// updated) verifies on its own, which the package comment admits; a
// checkpoint taken earlier exposes it.
func TestCheckpointCatchesRewrites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		recordN(t, db, chainLen)
		seal(t, db)
		rep := verifyOK(t, db)
		cp, err := audit.ParseCheckpoint(rep.Head.String())
		if err != nil || cp.Seq != chainLen || !bytes.Equal(cp.Hash, rep.Head.Hash) {
			t.Fatalf("checkpoint %q round trip: %+v, %v", rep.Head.String(), cp, err)
		}
		if _, err := audit.Verify(context.Background(), db, audit.Options{Checkpoint: &cp}); err != nil {
			t.Fatalf("intact chain against its checkpoint: %v", err)
		}

		// Rewrite event 4 and re-chain 4..10, then fix the head.
		prev := entryAt(t, db, 3).Hash
		for seq := int64(4); seq <= chainLen; seq++ {
			e := entryAt(t, db, seq)
			if seq == 4 {
				e.ActorID = "usr_mallory"
			}
			h := audit.ChainHash(prev, seq, e)
			exec(t, db, `UPDATE audit_events SET actor_id = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.ActorID, prev, h, seq)
			prev = h
		}
		exec(t, db, `UPDATE audit_head SET hash = ?`, prev)
		verifyOK(t, db)
		p := verifyBroken(t, db, audit.Options{Checkpoint: &cp})
		if p.Kind != audit.ProblemCheckpoint || p.Seq != chainLen {
			t.Fatalf("problem %s, want checkpoint_mismatch at seq %d", p, chainLen)
		}

		// Truncation with a rewritten head, likewise.
		exec(t, db, `DELETE FROM audit_events WHERE seq > 8`)
		e8 := entryAt(t, db, 8)
		exec(t, db, `UPDATE audit_head SET seq = 8, hash = ?`, e8.Hash)
		verifyOK(t, db)
		p = verifyBroken(t, db, audit.Options{Checkpoint: &cp})
		if p.Kind != audit.ProblemCheckpoint || p.Seq != 9 {
			t.Fatalf("problem %s, want checkpoint_mismatch at seq 9", p)
		}
	})
}

func TestParseCheckpointRejectsGarbage(t *testing.T) {
	t.Parallel()
	good := "12:" + strings.Repeat("ab", audit.HashSize)
	if _, err := audit.ParseCheckpoint(good); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for _, s := range []string{"", "12", "0:" + strings.Repeat("ab", 32), "-1:" + strings.Repeat("ab", 32), "x:" + strings.Repeat("ab", 32), "12:abc", "12:" + strings.Repeat("zz", 32), "12:" + strings.Repeat("ab", 31)} {
		if _, err := audit.ParseCheckpoint(s); err == nil {
			t.Errorf("ParseCheckpoint(%q) accepted", s)
		}
	}
}

func TestVerifyProgress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 20_000
		if err := audit.SeedSealed(context.Background(), db, n); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		now := t0
		clock := func() time.Time { now = now.Add(time.Second); return now } // each look at the clock is a second later
		opt := audit.SplitShortChains(audit.Options{Progress: &out, Now: clock, Workers: 2}, 1)
		rep, err := audit.Verify(context.Background(), db, opt)
		if err != nil || rep.Verified != n {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		// Two readers of 10,000 events report every 4,096: four lines,
		// counting up.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		line := regexp.MustCompile(`^audit verify: (\d+)/20000 events \((\d+)%\), \d+ events/s, \ds elapsed$`)
		prev := 0
		for _, l := range lines {
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("progress line %q", l)
			}
			done, _ := strconv.Atoi(m[1])
			pct, _ := strconv.Atoi(m[2])
			if done <= prev || done > n || pct != done*100/n {
				t.Fatalf("progress:\n%s", out.String())
			}
			prev = done
		}
		if len(lines) != 4 {
			t.Fatalf("%d progress lines, want 4:\n%s", len(lines), out.String())
		}
		// Without a writer, nothing is written and nothing breaks.
		if _, err := audit.Verify(context.Background(), db, audit.Options{Workers: 1}); err != nil {
			t.Fatal(err)
		}
	})
}
