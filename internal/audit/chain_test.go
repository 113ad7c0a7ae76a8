package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func sample() fields[string] {
	return fields[string]{
		ID: "aud_01JNKQ5B4Y8M9W2X3Z4A5B6C7D", ActorKind: "user", ActorID: "usr_1", Action: "transfer.approved",
		TargetType: "transfer", TargetID: "trf_9", RequestID: "req_7", IP: "192.0.2.1", Details: `{"after":{"status":"executed"}}`,
	}
}

// The canonical encoding is a storage format: hashes already in databases
// depend on it, so it must never change silently. This pins version 1.
func TestCanonicalEncodingIsStable(t *testing.T) {
	t.Parallel()
	f := sample()
	enc := appendCanonical(nil, 42, 1767225600000000, &f)
	wantPrefix := "01" + "000000000000002a" + "0006474846204000" + "0000001e" + hex.EncodeToString([]byte(f.ID))
	if got := hex.EncodeToString(enc); got[:len(wantPrefix)] != wantPrefix {
		t.Fatalf("encoding starts %s\nwant          %s", got[:len(wantPrefix)], wantPrefix)
	}
	if len(enc) != 1+8+8+9*4+len(f.ID)+len(f.ActorKind)+len(f.ActorID)+len(f.Action)+len(f.TargetType)+len(f.TargetID)+len(f.RequestID)+len(f.IP)+len(f.Details) {
		t.Fatalf("encoding is %d bytes", len(enc))
	}
	sum := sha256.Sum256(chainInput(nil, genesis[:], 42, 1767225600000000, &f))
	const want = "fe1227641e1f14ec5a9682da25784ad8cbf17c4e49d93965c7cceaf5ea7034d6" // computed independently (Python struct + hashlib)
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("hash %s, want %s", got, want)
	}
	// Strings and byte slices encode identically (sealer and verifier).
	b := fields[[]byte]{[]byte(f.ID), []byte(f.ActorKind), []byte(f.ActorID), []byte(f.Action), []byte(f.TargetType),
		[]byte(f.TargetID), []byte(f.RequestID), []byte(f.IP), []byte(f.Details)}
	if !bytes.Equal(appendCanonical(nil, 42, 1767225600000000, &b), enc) {
		t.Fatal("[]byte fields encode differently from strings")
	}
}

// Moving bytes from one field to the next, or changing any field, seq or
// time, changes the encoding.
func TestCanonicalEncodingIsUnambiguous(t *testing.T) {
	t.Parallel()
	base := sample()
	enc := func(seq, at int64, f fields[string]) string { return string(appendCanonical(nil, seq, at, &f)) }
	seen := map[string]string{enc(1, 0, base): "base"}
	variants := map[string]func(*fields[string]){
		"ab+c vs a+bc":        func(f *fields[string]) { f.ActorID, f.Action = f.ActorID+"t", f.Action[1:] },
		"empty vs moved":      func(f *fields[string]) { f.TargetType, f.TargetID = "", f.TargetType+f.TargetID },
		"details":             func(f *fields[string]) { f.Details = `{"after":{"status":"rejected"}}` },
		"ip":                  func(f *fields[string]) { f.IP = "192.0.2.2" },
		"request id to empty": func(f *fields[string]) { f.RequestID = "" },
		"kind":                func(f *fields[string]) { f.ActorKind = "system" },
	}
	for name, change := range variants {
		f := base
		change(&f)
		e := enc(1, 0, f)
		if prev, dup := seen[e]; dup {
			t.Fatalf("%s encodes like %s", name, prev)
		}
		seen[e] = name
	}
	for name, e := range map[string]string{"seq": enc(2, 0, base), "at": enc(1, 1, base), "negative at": enc(1, -1, base)} {
		if prev, dup := seen[e]; dup {
			t.Fatalf("%s encodes like %s", name, prev)
		}
		seen[e] = name
	}
}

func TestSplitRanges(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tip      int64
		workers  int
		minRange int64
		want     [][2]int64
	}{
		{0, 4, 10, [][2]int64{{1, 0}}},
		{5, 4, 10, [][2]int64{{1, 5}}},
		{25, 4, 10, [][2]int64{{1, 13}, {14, 25}}},
		{10, 4, 2, [][2]int64{{1, 3}, {4, 6}, {7, 9}, {10, 10}}},
		{9, 4, 2, [][2]int64{{1, 3}, {4, 6}, {7, 9}}},
		{1_000_000, 2, minRangeEvents, [][2]int64{{1, 500_000}, {500_001, 1_000_000}}},
	} {
		got := splitRanges(tt.tip, tt.workers, tt.minRange)
		if len(got) != len(tt.want) {
			t.Fatalf("splitRanges(%d, %d, %d) = %d ranges, want %d", tt.tip, tt.workers, tt.minRange, len(got), len(tt.want))
		}
		for i, r := range got {
			if r.lo != tt.want[i][0] || r.hi != tt.want[i][1] {
				t.Errorf("splitRanges(%d, %d, %d)[%d] = [%d, %d], want %v", tt.tip, tt.workers, tt.minRange, i, r.lo, r.hi, tt.want[i])
			}
		}
	}
}
