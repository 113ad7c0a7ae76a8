package password

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// fast are small but valid parameters so that tests which hash many times
// stay quick; DefaultParams are exercised separately.
var fast = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		params  Params
		pattern string
	}{
		{"default", DefaultParams(), `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"fast", fast, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"two lanes, long salt and key", Params{Memory: 128, Iterations: 3, Parallelism: 2, SaltLen: 32, KeyLen: 64}, `^\$argon2id\$v=19\$m=128,t=3,p=2\$[A-Za-z0-9+/]{43}\$[A-Za-z0-9+/]{86}$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHasher(tt.params, 2)
			ctx := t.Context()
			const pw = "correct horse battery staple ✓"
			enc, err := h.Hash(ctx, pw)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !regexp.MustCompile(tt.pattern).MatchString(enc) {
				t.Fatalf("Hash = %q, want match for %s", enc, tt.pattern)
			}
			if strings.Contains(enc, pw) {
				t.Fatal("hash contains the password")
			}
			again, err := h.Hash(ctx, pw)
			if err != nil {
				t.Fatalf("Hash again: %v", err)
			}
			if again == enc {
				t.Fatal("two hashes of the same password are equal: salt not random")
			}
			for _, c := range []struct {
				pw     string
				wantOK bool
			}{
				{pw, true},
				{"correct horse battery staple", false},
				{"Correct horse battery staple ✓", false},
				{"", false},
			} {
				ok, rehash, err := h.Verify(ctx, c.pw, enc)
				if err != nil || ok != c.wantOK || rehash {
					t.Errorf("Verify(%q) = %t, %t, %v; want %t, false, nil", c.pw, ok, rehash, err, c.wantOK)
				}
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	enc, err := NewHasher(fast, 1).Hash(ctx, "s3cret-Passphrase")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params Params
		want   bool
	}{
		{"same", fast, false},
		{"memory", Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"iterations", Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"parallelism", Params{Memory: 64, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}, true},
		{"salt length", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 24, KeyLen: 32}, true},
		{"key length", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 48}, true},
		{"default", DefaultParams(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := NewHasher(tt.params, 1).Verify(ctx, "s3cret-Passphrase", enc)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = %t, %t, %v; want true, %t, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

// TestVerifyIndependentVectors checks hashes made by other implementations:
// the Argon2 reference implementation's command-line tool and Python's
// hashlib in the Django and Werkzeug formats.
func TestVerifyIndependentVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password, encoded string
		rehash                  bool // with DefaultParams
	}{
		// Argon2 reference implementation (Debian package argon2, 0~20190702):
		//   echo -n "correct horse battery staple" | argon2 fiscus-salt-0001 -id -t 2 -k 19456 -p 1 -l 32 -e
		{"argon2 cli default params", "correct horse battery staple",
			"$argon2id$v=19$m=19456,t=2,p=1$ZmlzY3VzLXNhbHQtMDAwMQ$emw93rysvnyM54dwI4zyz94sjMNaBNFxAmVjpMuyj3k", false},
		//   echo -n "pässwörd" | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 2 -l 16 -e
		{"argon2 cli two lanes", "pässwörd",
			"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$rb/R8kDHJIcvjsq+ilAULQ", true},
		//   echo -n "hunter2hunter2" | argon2 somesaltsomesalt -id -t 3 -k 4096 -p 4 -l 32 -e
		{"argon2 cli four lanes", "hunter2hunter2",
			"$argon2id$v=19$m=4096,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$uNvI5fqBmKXHBdsGFyK5lzl3pCeO5BY6KmsraTM47HE", true},

		// Django format, Python 3.11 hashlib:
		//   python3 -c 'import hashlib,base64; print("pbkdf2_sha256$%d$%s$%s" % (260000, "q8bKf2Lx9Ns1", base64.b64encode(hashlib.pbkdf2_hmac("sha256", "correct horse battery staple".encode(), b"q8bKf2Lx9Ns1", 260000)).decode()))'
		{"django", "correct horse battery staple",
			"pbkdf2_sha256$260000$q8bKf2Lx9Ns1$5Xw6DbNwXX+V1BvqHRA4/2wLZHws5ZOeERoMiV8F5aU=", true},
		//   python3 -c 'import hashlib,base64; print("pbkdf2_sha256$%d$%s$%s" % (1000, "Zt3pQw7y", base64.b64encode(hashlib.pbkdf2_hmac("sha256", "pässwörd €".encode(), b"Zt3pQw7y", 1000)).decode()))'
		{"django utf-8", "pässwörd €",
			"pbkdf2_sha256$1000$Zt3pQw7y$Kn/Tck3u+zxQvxx4m09iwtQ4MFYIK6nF4S0qFQpzuqo=", true},

		// Werkzeug format, Python 3.11 hashlib:
		//   python3 -c 'import hashlib; print("pbkdf2:sha256:%d$%s$%s" % (50000, "Xy7pQ2rT9vLm3nBc", hashlib.pbkdf2_hmac("sha256", "correct horse battery staple".encode(), b"Xy7pQ2rT9vLm3nBc", 50000).hex()))'
		{"werkzeug", "correct horse battery staple",
			"pbkdf2:sha256:50000$Xy7pQ2rT9vLm3nBc$f435fec7492d350b6b135ca67c5fa2a25874be6fad4e87cffa5d709799e8ab26", true},
		//   python3 -c 'import hashlib; print("pbkdf2:sha256:%d$%s$%s" % (1000, "aB3dE5gH", hashlib.pbkdf2_hmac("sha256", "pässwörd €".encode(), b"aB3dE5gH", 1000).hex()))'
		{"werkzeug utf-8", "pässwörd €",
			"pbkdf2:sha256:1000$aB3dE5gH$ec6683c25e6fb1011a5a834435dda182048216984ba10b944d6769eea384b32c", true},
	}
	h := NewHasher(DefaultParams(), 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			ok, rehash, err := h.Verify(ctx, tt.password, tt.encoded)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify(right password) = %t, %t, %v; want true, %t, nil", ok, rehash, err, tt.rehash)
			}
			ok, rehash, err = h.Verify(ctx, tt.password+"x", tt.encoded)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong password) = %t, %t, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	const (
		salt = "c29tZXNhbHRzb21lc2FsdA"                      // 16 bytes
		key  = "uNvI5fqBmKXHBdsGFyK5lzl3pCeO5BY6KmsraTM47HE" // 32 bytes
		hex  = "f435fec7492d350b6b135ca67c5fa2a25874be6fad4e87cffa5d709799e8ab26"
		b64  = "5Xw6DbNwXX+V1BvqHRA4/2wLZHws5ZOeERoMiV8F5aU="
	)
	argon := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct{ name, encoded string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuuQ1234567890123456789012345678901"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"argon2id extra field", argon("m=64,t=1,p=1") + "$x"},
		{"argon2id params reordered", argon("t=1,m=64,p=1")},
		{"argon2id extra param", argon("m=64,t=1,p=1,k=2")},
		{"argon2id memory above 1 GiB", argon("m=1048577,t=1,p=1")},
		{"argon2id memory 4 GiB", argon("m=4194304,t=1,p=1")},
		{"argon2id memory overflows uint32", argon("m=4294967296,t=1,p=1")},
		{"argon2id iterations above 100", argon("m=64,t=101,p=1")},
		{"argon2id too much work", argon("m=1048576,t=5,p=1")},
		{"argon2id zero iterations", argon("m=64,t=0,p=1")},
		{"argon2id zero parallelism", argon("m=64,t=1,p=0")},
		{"argon2id parallelism above 255", argon("m=4096,t=1,p=256")},
		{"argon2id memory below 8 KiB per lane", argon("m=15,t=1,p=2")},
		{"argon2id leading zero", argon("m=064,t=1,p=1")},
		{"argon2id sign", argon("m=+64,t=1,p=1")},
		{"argon2id negative", argon("m=64,t=-1,p=1")},
		{"argon2id hex number", argon("m=0x40,t=1,p=1")},
		{"argon2id empty number", argon("m=,t=1,p=1")},
		{"argon2id salt bad base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"argon2id salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"argon2id salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"argon2id hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$c2FsdA"},
		{"argon2id hash too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 88)},
		{"argon2id hash not canonical", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "F"},
		{"oversized", argon("m=64,t=1,p=1") + strings.Repeat("A", 600)},
		{"django zero iterations", "pbkdf2_sha256$0$salt$" + b64},
		{"django too many iterations", "pbkdf2_sha256$10000001$salt$" + b64},
		{"django huge iterations", "pbkdf2_sha256$99999999999$salt$" + b64},
		{"django iterations not a number", "pbkdf2_sha256$abc$salt$" + b64},
		{"django empty salt", "pbkdf2_sha256$1000$$" + b64},
		{"django long salt", "pbkdf2_sha256$1000$" + strings.Repeat("s", 129) + "$" + b64},
		{"django bad base64", "pbkdf2_sha256$1000$salt$****"},
		{"django unpadded base64", "pbkdf2_sha256$1000$salt$" + strings.TrimSuffix(b64, "=")},
		{"django short hash", "pbkdf2_sha256$1000$salt$c2FsdA=="},
		{"django missing field", "pbkdf2_sha256$1000$" + b64},
		{"django extra field", "pbkdf2_sha256$1000$salt$" + b64 + "$x"},
		{"django sha1", "pbkdf2_sha1$1000$salt$" + b64},
		{"werkzeug no iterations", "pbkdf2:sha256$salt$" + hex},
		{"werkzeug too many iterations", "pbkdf2:sha256:20000000$salt$" + hex},
		{"werkzeug extra method part", "pbkdf2:sha256:1000:1$salt$" + hex},
		{"werkzeug base64 hash", "pbkdf2:sha256:1000$salt$" + b64},
		{"werkzeug odd hex", "pbkdf2:sha256:1000$salt$" + hex[1:]},
		{"werkzeug missing salt", "pbkdf2:sha256:1000$" + hex},
		{"werkzeug sha512", "pbkdf2:sha512:1000$salt$" + hex},
		{"scrypt", "scrypt:32768:8:1$salt$" + hex},
	}
	h := NewHasher(fast, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := h.Verify(t.Context(), "password", tt.encoded)
			if !errors.Is(err, ErrMalformed) || ok || rehash {
				t.Fatalf("Verify = %t, %t, %v; want false, false, ErrMalformed", ok, rehash, err)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), hex) {
				t.Fatalf("error %q repeats the stored hash", err)
			}
		})
	}
}

func TestPasswordTooLong(t *testing.T) {
	t.Parallel()
	h := NewHasher(fast, 1)
	ctx := t.Context()
	long := strings.Repeat("a", MaxPasswordSize+1)
	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash(long) error = %v, want ErrTooLong", err)
	}
	enc, err := h.Hash(ctx, long[:MaxPasswordSize])
	if err != nil {
		t.Fatalf("Hash(longest allowed): %v", err)
	}
	if ok, _, err := h.Verify(ctx, long[:MaxPasswordSize], enc); !ok || err != nil {
		t.Fatalf("Verify(longest allowed) = %t, %v", ok, err)
	}
	if ok, _, err := h.Verify(ctx, long, enc); ok || err != nil {
		t.Fatalf("Verify(long) = %t, %v; want false, nil", ok, err)
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams(), true},
		{"fast", fast, true},
		{"max memory", Params{Memory: MaxMemoryKiB, Iterations: 4, Parallelism: 4, SaltLen: 16, KeyLen: 32}, true},
		{"zero", Params{}, false},
		{"zero iterations", Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32}, false},
		{"zero parallelism", Params{Memory: 64, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32}, false},
		{"memory too small for lanes", Params{Memory: 31, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 32}, false},
		{"memory too large", Params{Memory: MaxMemoryKiB + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, false},
		{"too many iterations", Params{Memory: 64, Iterations: MaxIterations + 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, false},
		{"too much work", Params{Memory: MaxMemoryKiB, Iterations: 5, Parallelism: 1, SaltLen: 16, KeyLen: 32}, false},
		{"short salt", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 7, KeyLen: 32}, false},
		{"long salt", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 65, KeyLen: 32}, false},
		{"short key", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 15}, false},
		{"long key", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 65}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				NewHasher(tt.p, 1)
				return false
			}()
			if panicked == tt.ok {
				t.Fatalf("NewHasher panicked = %t, want %t", panicked, !tt.ok)
			}
		})
	}
}

func TestNewHasherDefaultConcurrency(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1} {
		if got := cap(NewHasher(fast, n).sem); got != runtime.NumCPU() {
			t.Errorf("NewHasher(_, %d) allows %d computations, want runtime.NumCPU() = %d", n, got, runtime.NumCPU())
		}
	}
	if got := cap(NewHasher(fast, 3).sem); got != 3 {
		t.Errorf("NewHasher(_, 3) allows %d computations", got)
	}
}

// gate instruments a Hasher: it counts computations in flight, remembers the
// most seen at once, and holds each computation until released.
type gate struct {
	cur, max, started atomic.Int64
	release           chan struct{}
	openOnce          sync.Once
}

// open lets every held and future computation through.
func (g *gate) open() { g.openOnce.Do(func() { close(g.release) }) }

func newGate(h *Hasher) *gate {
	g := &gate{release: make(chan struct{})}
	h.slotHook = func(delta int) {
		n := g.cur.Add(int64(delta))
		if delta < 0 {
			return
		}
		g.started.Add(1)
		for {
			m := g.max.Load()
			if n <= m || g.max.CompareAndSwap(m, n) {
				break
			}
		}
		<-g.release
	}
	return g
}

func TestConcurrencyBounded(t *testing.T) {
	t.Parallel()
	const limit, calls = 2, 9
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(fast, limit)
		g := newGate(h)
		ctx := t.Context()
		enc, err := NewHasher(fast, 1).Hash(ctx, "pw-for-verify")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				switch i % 3 {
				case 0:
					if _, err := h.Hash(ctx, "pw"); err != nil {
						t.Errorf("Hash: %v", err)
					}
				case 1:
					if ok, _, err := h.Verify(ctx, "pw-for-verify", enc); !ok || err != nil {
						t.Errorf("Verify = %t, %v", ok, err)
					}
				default:
					h.Dummy(ctx, "pw")
				}
			})
		}
		// Every goroutine is now either inside a slot (held by the gate) or
		// waiting for one; release them one at a time.
		for done := 0; done < calls; done++ {
			synctest.Wait()
			want := int64(min(limit, calls-done))
			if got := g.cur.Load(); got != want {
				t.Errorf("after %d released: %d computations in flight, want %d", done, got, want)
				break
			}
			g.release <- struct{}{}
		}
		g.open()
		wg.Wait()
		if got := g.max.Load(); got != limit {
			t.Fatalf("max in flight = %d, want %d", got, limit)
		}
		if got := g.started.Load(); got != calls {
			t.Fatalf("computations = %d, want %d", got, calls)
		}
	})
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(fast, 1)
		g := newGate(h)
		defer g.open() // on failure, let held goroutines finish
		enc, err := NewHasher(fast, 1).Hash(t.Context(), "pw")
		if err != nil {
			t.Fatal(err)
		}
		holder := make(chan struct{})
		go func() {
			defer close(holder)
			if _, err := h.Hash(t.Context(), "pw"); err != nil {
				t.Errorf("holder: %v", err)
			}
		}()
		synctest.Wait() // the holder is inside the only slot

		ctx, cancel := context.WithCancel(t.Context())
		errs := make(chan error, 3)
		go func() { _, err := h.Hash(ctx, "pw"); errs <- err }()
		go func() { _, _, err := h.Verify(ctx, "pw", enc); errs <- err }()
		go func() { h.Dummy(ctx, "pw"); errs <- nil }()
		synctest.Wait() // all three wait for the slot
		cancel()
		for range 3 {
			if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("waiting call returned %v, want context.Canceled", err)
			}
		}
		if got := g.started.Load(); got != 1 {
			t.Fatalf("%d computations started, want only the holder's", got)
		}
		g.release <- struct{}{}
		<-holder

		// An already-cancelled context does not compute even with a free slot.
		if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash(cancelled) = %v", err)
		}
		if _, _, err := h.Verify(ctx, "pw", enc); !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify(cancelled) = %v", err)
		}
		h.Dummy(ctx, "pw")
		if got := g.started.Load(); got != 1 {
			t.Fatalf("%d computations started after cancellation, want 1", got)
		}
	})
}

// BenchmarkHash and BenchmarkVerify measure one Argon2id computation with
// DefaultParams; figures are in BENCHMARKS.md.
func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams(), 1)
	ctx := b.Context()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(DefaultParams(), 1)
	ctx := b.Context()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkDummy(b *testing.B) {
	h := NewHasher(DefaultParams(), 1)
	ctx := b.Context()
	for b.Loop() {
		h.Dummy(ctx, "correct horse battery staple")
	}
}

// BenchmarkVerifyParallel measures login throughput: many goroutines
// verifying through one Hasher that runs runtime.NumCPU() computations at
// once.
func BenchmarkVerifyParallel(b *testing.B) {
	h := NewHasher(DefaultParams(), 0)
	ctx := b.Context()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}

// FuzzParse feeds arbitrary stored values to the parsers: they must never
// panic, and whatever they accept must lie within the limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$ZmlzY3VzLXNhbHQtMDAwMQ$emw93rysvnyM54dwI4zyz94sjMNaBNFxAmVjpMuyj3k",
		"$argon2id$v=19$m=1048577,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$uNvI5fqBmKXHBdsGFyK5lzl3pCeO5BY6KmsraTM47HE",
		"pbkdf2_sha256$260000$q8bKf2Lx9Ns1$5Xw6DbNwXX+V1BvqHRA4/2wLZHws5ZOeERoMiV8F5aU=",
		"pbkdf2:sha256:50000$Xy7pQ2rT9vLm3nBc$f435fec7492d350b6b135ca67c5fa2a25874be6fad4e87cffa5d709799e8ab26",
		"$argon2id$$$$$", "pbkdf2_sha256$$$", "pbkdf2:sha256:$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, salt, key, err := parseArgon2id(s); err == nil {
			if checkArgon2Cost(p.Memory, p.Iterations, p.Parallelism) != nil || len(salt) < MinSaltLen || len(salt) > MaxSaltLen || len(key) < MinKeyLen || len(key) > MaxKeyLen {
				t.Fatalf("parseArgon2id accepted out-of-limits %+v", p)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseArgon2id error %v does not wrap ErrMalformed", err)
		}
		if iter, salt, key, err := parsePBKDF2(s); err == nil {
			if iter < 1 || iter > MaxPBKDF2Iter || len(salt) < 1 || len(salt) > maxPBKDF2Salt || len(key) < MinKeyLen || len(key) > MaxKeyLen {
				t.Fatalf("parsePBKDF2 accepted out-of-limits iter=%d salt=%d key=%d", iter, len(salt), len(key))
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parsePBKDF2 error %v does not wrap ErrMalformed", err)
		}
	})
}
