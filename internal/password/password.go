// Package password hashes, verifies and vets user passwords.
//
// Guarantees:
//   - New hashes are Argon2id (RFC 9106) in the PHC string format
//     $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, with a fresh
//     salt from crypto/rand for every hash. DefaultParams are the OWASP Password
//     Storage Cheat Sheet's Argon2id settings.
//   - Verify also accepts legacy PBKDF2-HMAC-SHA256 hashes in the Django and
//     Werkzeug formats and reports them (and Argon2id hashes with other
//     parameters) as needing a rehash, so callers can upgrade them
//     transparently at the next successful login.
//   - Hashes are compared in constant time.
//   - Parsing is strict and bounded: a malformed or absurd stored hash (memory
//     above 1 GiB, more than 100 Argon2 passes, more than 10,000,000 PBKDF2
//     iterations, …) is an error, never a panic and never unbounded work, so a
//     poisoned row cannot take the server down.
//   - At most maxConcurrent hash computations run at once per Hasher (Hash,
//     Verify and Dummy share the slots); waiting for a slot honours the
//     context. This bounds the memory Argon2 can take (maxConcurrent × Memory).
//   - Dummy does the work of a Verify against a hash made with the Hasher's
//     parameters, so that an unknown user costs the same time as a known one.
//   - Neither passwords nor hashes appear in error messages.
//
// Policy implements NIST SP 800-63B: length limits counted in characters
// (runes), a list of common and breached passwords, context words (name,
// email) and trivial patterns, and no composition rules.
package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Limits on parameters, both for a Hasher's own Params and for any stored hash
// Verify is asked to check. They keep a poisoned row from costing more than a
// bounded amount of memory and CPU.
const (
	MaxMemoryKiB    = 1 << 20 // 1 GiB
	MaxIterations   = 100
	MaxWorkKiB      = 4 << 20 // Memory × Iterations: at most 4 GiB of block passes
	MinSaltLen      = 8
	MaxSaltLen      = 64
	MinKeyLen       = 16
	MaxKeyLen       = 64
	MaxPBKDF2Iter   = 10_000_000
	maxPBKDF2Salt   = 128  // bytes
	maxEncodedLen   = 512  // bytes; longer stored hashes are refused unparsed
	MaxPasswordSize = 4096 // bytes; longer passwords are never hashed
)

// ErrMalformed is wrapped by every error about an unusable stored hash.
var ErrMalformed = errors.New("password: malformed or unsupported hash")

// ErrTooLong is returned by Hash for a password over MaxPasswordSize bytes.
var ErrTooLong = errors.New("password: password too long to hash")

// Params are Argon2id parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32 // passes over memory
	Parallelism uint8  // lanes
	SaltLen     uint32 // bytes
	KeyLen      uint32 // bytes
}

// DefaultParams are the OWASP Password Storage Cheat Sheet's Argon2id
// parameters: 19 MiB of memory, 2 passes, 1 lane, a 16-byte salt and a
// 32-byte hash.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p lies within this package's limits.
func (p Params) Validate() error {
	if err := checkArgon2Cost(p.Memory, p.Iterations, p.Parallelism); err != nil {
		return err
	}
	if p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen {
		return fmt.Errorf("password: salt length %d outside [%d, %d] bytes", p.SaltLen, MinSaltLen, MaxSaltLen)
	}
	if p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen {
		return fmt.Errorf("password: key length %d outside [%d, %d] bytes", p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

func checkArgon2Cost(m, t uint32, p uint8) error {
	switch {
	case p < 1:
		return errors.New("password: parallelism must be at least 1")
	case t < 1 || t > MaxIterations:
		return fmt.Errorf("password: iterations %d outside [1, %d]", t, MaxIterations)
	case m < 8*uint32(p):
		return fmt.Errorf("password: memory %d KiB below 8 KiB per lane", m)
	case m > MaxMemoryKiB:
		return fmt.Errorf("password: memory %d KiB above %d KiB", m, MaxMemoryKiB)
	case uint64(m)*uint64(t) > MaxWorkKiB:
		return fmt.Errorf("password: memory × iterations %d KiB above %d KiB", uint64(m)*uint64(t), MaxWorkKiB)
	}
	return nil
}

// Hasher hashes and verifies passwords with a bounded number of concurrent
// computations. It is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	// slotHook, when set (by tests only), is called with +1 right after a
	// computation takes a slot and with -1 right before it gives it back.
	slotHook func(delta int)
}

// NewHasher returns a Hasher producing hashes with p, running at most
// maxConcurrent computations at once (runtime.NumCPU() when maxConcurrent <= 0).
// It panics if p fails Validate: parameters are a programming or startup
// configuration decision, so validate configured values first.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{params: p, sem: make(chan struct{}, maxConcurrent)}
}

// Params returns the parameters h hashes with.
func (h *Hasher) Params() Params { return h.params }

// compute runs f in a slot, waiting for one while ctx allows.
func (h *Hasher) compute(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.sem }()
	if h.slotHook != nil {
		h.slotHook(+1)
		defer h.slotHook(-1)
	}
	f()
	return nil
}

// Hash returns the Argon2id PHC string of password. It waits for a free slot
// and returns ctx's error if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordSize {
		return "", ErrTooLong
	}
	p := h.params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	var key []byte
	if err := h.compute(ctx, func() {
		key = argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
	}); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, and whether encoded should
// be replaced by a fresh Hash (needsRehash, meaningful only when ok): true for
// every legacy PBKDF2 hash and for Argon2id hashes whose parameters, salt
// length or key length differ from h's.
//
// Accepted formats:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>      (PHC, unpadded standard base64)
//	pbkdf2_sha256$<iterations>$<salt>$<hash>          (Django, padded standard base64)
//	pbkdf2:sha256:<iterations>$<salt>$<hash>          (Werkzeug, hex)
//
// An unparsable, unsupported or out-of-limits encoded value is an error
// wrapping ErrMalformed. A password over MaxPasswordSize bytes never matches.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok bool, needsRehash bool, err error) {
	if len(encoded) > maxEncodedLen {
		return false, false, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxEncodedLen)
	}
	var (
		want   []byte
		derive func() []byte
		rehash bool
	)
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := parseArgon2id(encoded)
		if err != nil {
			return false, false, err
		}
		want, rehash = key, p != h.params
		derive = func() []byte {
			return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		}
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"), strings.HasPrefix(encoded, "pbkdf2:sha256:"):
		iter, salt, key, err := parsePBKDF2(encoded)
		if err != nil {
			return false, false, err
		}
		want, rehash = key, true
		derive = func() []byte {
			k, err := pbkdf2.Key(sha256.New, password, salt, iter, len(key))
			if err != nil {
				return nil // only in FIPS-only mode with a short key; never matches
			}
			return k
		}
	default:
		return false, false, fmt.Errorf("%w: unknown scheme", ErrMalformed)
	}
	if len(password) > MaxPasswordSize {
		return false, false, nil
	}
	var got []byte
	if err := h.compute(ctx, func() { got = derive() }); err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, rehash, nil
}

// Dummy spends the same time as a Verify of password against an Argon2id hash
// made with h's parameters, and learns nothing. Call it when the user does not
// exist so that the response time does not tell whether an account exists.
func (h *Hasher) Dummy(ctx context.Context, password string) {
	if len(password) > MaxPasswordSize {
		return
	}
	p := h.params
	salt, want := make([]byte, p.SaltLen), make([]byte, p.KeyLen) // fixed; the result is thrown away
	_ = h.compute(ctx, func() {
		got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		subtle.ConstantTimeCompare(got, want)
	})
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly.
func parseArgon2id(s string) (Params, []byte, []byte, error) {
	bad := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: argon2id: "+format, append([]any{ErrMalformed}, args...)...)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want 5 $-separated fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want parameters m, t and p")
	}
	var nums [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return bad("parameter %d is not %s", i+1, strings.TrimSuffix(name, "="))
		}
		n, err := parseDecimal(v, 32)
		if err != nil {
			return bad("parameter %s is not a decimal number", strings.TrimSuffix(name, "="))
		}
		nums[i] = n
	}
	if nums[2] > 255 {
		return bad("parallelism %d above 255", nums[2])
	}
	m, t, p := uint32(nums[0]), uint32(nums[1]), uint8(nums[2])
	if err := checkArgon2Cost(m, t, p); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: argon2id: %w", ErrMalformed, err)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < MinSaltLen || len(salt) > MaxSaltLen {
		return bad("salt is not %d to %d bytes of unpadded base64", MinSaltLen, MaxSaltLen)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return bad("hash is not %d to %d bytes of unpadded base64", MinKeyLen, MaxKeyLen)
	}
	return Params{Memory: m, Iterations: t, Parallelism: p, SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}, salt, key, nil
}

// parsePBKDF2 parses the Django and Werkzeug PBKDF2-SHA256 formats strictly.
// The salt is used as the bytes of its text, as both frameworks do.
func parsePBKDF2(s string) (iter int, salt, key []byte, err error) {
	bad := func(format string, args ...any) (int, []byte, []byte, error) {
		return 0, nil, nil, fmt.Errorf("%w: pbkdf2: "+format, append([]any{ErrMalformed}, args...)...)
	}
	var iterText, saltText, keyText string
	django := strings.HasPrefix(s, "pbkdf2_sha256$")
	if django {
		parts := strings.Split(s, "$")
		if len(parts) != 4 {
			return bad("django: want 4 $-separated fields")
		}
		iterText, saltText, keyText = parts[1], parts[2], parts[3]
	} else {
		parts := strings.Split(s, "$")
		if len(parts) != 3 {
			return bad("werkzeug: want 3 $-separated fields")
		}
		method := strings.Split(parts[0], ":")
		if len(method) != 3 || method[0] != "pbkdf2" || method[1] != "sha256" {
			return bad("werkzeug: want method pbkdf2:sha256:<iterations>")
		}
		iterText, saltText, keyText = method[2], parts[1], parts[2]
	}
	n, err := parseDecimal(iterText, 32)
	if err != nil || n < 1 || n > MaxPBKDF2Iter {
		return bad("iterations not a number in [1, %d]", MaxPBKDF2Iter)
	}
	if len(saltText) < 1 || len(saltText) > maxPBKDF2Salt {
		return bad("salt length outside [1, %d] bytes", maxPBKDF2Salt)
	}
	if django {
		key, err = base64.StdEncoding.Strict().DecodeString(keyText)
	} else {
		key, err = hex.DecodeString(keyText)
	}
	if err != nil || len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return bad("hash is not %d to %d bytes", MinKeyLen, MaxKeyLen)
	}
	return int(n), []byte(saltText), key, nil
}

// parseDecimal parses a plain unsigned decimal: digits only, at most 10 of
// them, no sign and no leading zeros.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("not a plain decimal")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a plain decimal")
		}
	}
	return strconv.ParseUint(s, 10, bits)
}
