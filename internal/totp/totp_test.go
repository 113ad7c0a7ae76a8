package totp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/pquerna/otp"
)

// refCode is an independent RFC 4226 HOTP (dynamic truncation, 6 digits)
// written from the RFC with the standard library only; tests use it to make
// codes for arbitrary steps without going through the code under test.
func refCode(t *testing.T, secretB32 string, counter int64) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secretB32)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[19] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1_000_000)
}

// rfcSecret is the RFC 4226 / RFC 6238 SHA-1 test key "12345678901234567890".
var rfcSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

// TestRFC6238Vectors checks RFC 6238 Appendix B (SHA-1, 8 digits) with the
// step code function, and their 6-digit suffixes through Validate.
func TestRFC6238Vectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unix  int64
		step  int64
		code8 string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.unix), func(t *testing.T) {
			t.Parallel()
			got, err := stepCode(rfcSecret, tt.step, otp.DigitsEight)
			if err != nil || got != tt.code8 {
				t.Fatalf("8-digit code = %q, %v; want %s", got, err, tt.code8)
			}
			step, err := Validate(rfcSecret, tt.code8[2:], time.Unix(tt.unix, 0), 0)
			if err != nil || step != tt.step {
				t.Fatalf("Validate(%s) = %d, %v; want step %d", tt.code8[2:], step, err, tt.step)
			}
			if want := refCode(t, rfcSecret, tt.step); want != tt.code8[2:] {
				t.Fatalf("reference HOTP = %s, want %s", want, tt.code8[2:])
			}
		})
	}
}

// TestRFC4226Vectors checks RFC 4226 Appendix D (6-digit HOTP values for
// counters 0–9), each as the code of its step.
func TestRFC4226Vectors(t *testing.T) {
	t.Parallel()
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, code := range want {
		got, err := stepCode(rfcSecret, int64(counter), otp.DigitsSix)
		if err != nil || got != code {
			t.Errorf("HOTP(%d) = %q, %v; want %s", counter, got, err, code)
		}
		if counter == 0 {
			continue // step 0 is within 30 s of 1970, which Validate refuses
		}
		step, err := Validate(rfcSecret, code, time.Unix(int64(counter)*Period+15, 0), 0)
		if err != nil || step != int64(counter) {
			t.Errorf("Validate(HOTP(%d)) = %d, %v", counter, step, err)
		}
	}
}

// TestOathtoolVectors checks codes made by oathtool (OATH Toolkit 2.6.7,
// Debian package oathtool), an independent C implementation:
//
//	oathtool --totp -b -N @<unix> T45BY7S3FVHWBAMSUO2MLVXH7AASGRLH
//
// The secret is the base32 of 9f3a1c7e5b2d4f608192a3b4c5d6e7f801234567.
func TestOathtoolVectors(t *testing.T) {
	t.Parallel()
	const secret = "T45BY7S3FVHWBAMSUO2MLVXH7AASGRLH"
	tests := []struct {
		unix int64
		code string
	}{
		{1700000000, "163442"},
		{1767225600, "963973"},
		{1767225629, "963973"},
		{1767225630, "404773"},
		{1893456000, "030364"},
	}
	for _, tt := range tests {
		step, err := Validate(secret, tt.code, time.Unix(tt.unix, 0), 0)
		if err != nil || step != tt.unix/30 {
			t.Errorf("Validate(%s at %d) = %d, %v; want step %d", tt.code, tt.unix, step, err, tt.unix/30)
		}
		if got := refCode(t, secret, tt.unix/30); got != tt.code {
			t.Errorf("reference HOTP at %d = %s, want %s", tt.unix, got, tt.code)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const secret = "T45BY7S3FVHWBAMSUO2MLVXH7AASGRLH"
	now := time.Unix(1767225615, 0) // 15 s into step 58907520
	cur := now.Unix() / Period
	code := func(delta int64) string { return refCode(t, secret, cur+delta) }
	window := map[string]bool{code(-1): true, code(0): true, code(1): true}
	wrong := "000000"
	for window[wrong] {
		wrong = fmt.Sprintf("%06d", (atoi(wrong)+1)%1_000_000)
	}
	c0 := code(0)
	tests := []struct {
		name     string
		secret   string
		code     string
		now      time.Time
		lastStep int64
		wantStep int64
		wantCode fault.Code // "" means success
	}{
		{"current step", secret, c0, now, 0, cur, ""},
		{"previous step", secret, code(-1), now, 0, cur - 1, ""},
		{"next step", secret, code(1), now, 0, cur + 1, ""},
		{"two steps back", secret, code(-2), now, 0, 0, CodeInvalid},
		{"two steps ahead", secret, code(2), now, 0, 0, CodeInvalid},
		{"start of step", secret, c0, time.Unix(cur*Period, 0), 0, cur, ""},
		{"end of step", secret, c0, time.Unix(cur*Period+29, 0), 0, cur, ""},
		{"30 s late", secret, c0, time.Unix((cur+1)*Period+29, 0), 0, cur, ""},
		{"60 s late", secret, c0, time.Unix((cur+2)*Period, 0), 0, 0, CodeInvalid},
		{"30 s early", secret, c0, time.Unix((cur-1)*Period, 0), 0, cur, ""},
		{"sub-second time", secret, c0, now.Add(999 * time.Millisecond), 0, cur, ""},
		{"replay of current", secret, c0, now, cur, 0, CodeReplayed},
		{"replay of previous", secret, code(-1), now, cur - 1, 0, CodeReplayed},
		{"previous after current used", secret, code(-1), now, cur, 0, CodeReplayed},
		{"current after next used", secret, c0, now, cur + 1, 0, CodeReplayed},
		{"previous after older used", secret, code(-1), now, cur - 2, cur - 1, ""},
		{"next after current used", secret, code(1), now, cur, cur + 1, ""},
		{"wrong code", secret, wrong, now, 0, 0, CodeInvalid},
		{"wrong code after use", secret, wrong, now, cur, 0, CodeInvalid},
		{"spaces", secret, " " + c0[:3] + " " + c0[3:] + "\t", now, 0, cur, ""},
		{"lower-case secret", strings.ToLower(secret), c0, now, 0, cur, ""},
		{"five digits", secret, c0[:5], now, 0, 0, CodeInvalid},
		{"seven digits", secret, c0 + "0", now, 0, 0, CodeInvalid},
		{"eight-digit form", secret, "00" + c0, now, 0, 0, CodeInvalid},
		{"letter", secret, c0[:5] + "a", now, 0, 0, CodeInvalid},
		{"sign", secret, "+" + c0[1:], now, 0, 0, CodeInvalid},
		{"full-width digits", secret, "１２３４５６", now, 0, 0, CodeInvalid},
		{"empty", secret, "", now, 0, 0, CodeInvalid},
		{"newline inside", secret, c0[:3] + "\n" + c0[3:], now, 0, 0, CodeInvalid},
		{"secret not base32", "not base32!", c0, now, 0, 0, fault.Internal},
		{"secret too short", "GEZDGNBVGY3TQOJQ", c0, now, 0, 0, fault.Internal},
		{"empty secret", "", c0, now, 0, 0, fault.Internal},
		{"clock before 1970", secret, c0, time.Unix(-100, 0), 0, 0, fault.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			step, err := Validate(tt.secret, tt.code, tt.now, tt.lastStep)
			if tt.wantCode == "" {
				if err != nil || step != tt.wantStep {
					t.Fatalf("Validate = %d, %v; want step %d", step, err, tt.wantStep)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Code != tt.wantCode || step != 0 {
				t.Fatalf("Validate = %d, %v; want 0 and a *fault.Error with code %s", step, err, tt.wantCode)
			}
			if msg := err.Error(); strings.Contains(msg, secret) || (len(tt.code) >= 6 && strings.Contains(msg, tt.code)) {
				t.Fatalf("error %q repeats the secret or the code", msg)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestValidateSequence follows a user through consecutive logins: each
// accepted step becomes lastStep, and a code can never be used twice.
func TestValidateSequence(t *testing.T) {
	t.Parallel()
	key, err := Generate("Fiscus", "alice@fintrade.com")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var last int64
	for i := range 20 {
		now := start.Add(time.Duration(i) * 17 * time.Second)
		c := refCode(t, key.Secret, now.Unix()/Period)
		step, err := Validate(key.Secret, c, now, last)
		if step == last && err == nil {
			t.Fatalf("login %d: step %d accepted twice", i, step)
		}
		if err != nil {
			// Only a replay within the same step is allowed to fail.
			if !fault.Is(err, CodeReplayed) || now.Unix()/Period != last {
				t.Fatalf("login %d: %v", i, err)
			}
			continue
		}
		if step <= last {
			t.Fatalf("login %d: step %d not after %d", i, step, last)
		}
		last = step
		if _, err := Validate(key.Secret, c, now, last); !fault.Is(err, CodeReplayed) {
			t.Fatalf("login %d: immediate replay: %v", i, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct{ issuer, account, path string }{
		{"Fiscus", "alice@fintrade.com", "/Fiscus:alice@fintrade.com"},
		{"Fiscus Bank", "bob smith+2fa@example.org", "/Fiscus Bank:bob smith+2fa@example.org"},
		{"Fiscus/Dev", "renée@exemple.fr", "/Fiscus/Dev:renée@exemple.fr"},
	}
	secrets := map[string]bool{}
	for _, tt := range tests {
		key, err := Generate(tt.issuer, tt.account)
		if err != nil {
			t.Fatalf("Generate(%q, %q): %v", tt.issuer, tt.account, err)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret)
		if err != nil || len(raw) != 20 || strings.Contains(key.Secret, "=") {
			t.Fatalf("Secret %d chars is not 20 bytes of unpadded base32 (%v)", len(key.Secret), err)
		}
		if secrets[key.Secret] {
			t.Fatal("Generate repeated a secret")
		}
		secrets[key.Secret] = true

		u, err := url.Parse(key.URL)
		if err != nil {
			t.Fatalf("URL does not parse: %v", err)
		}
		q := u.Query()
		checks := []struct{ what, got, want string }{
			{"scheme", u.Scheme, "otpauth"},
			{"type", u.Host, "totp"},
			{"label", u.Path, tt.path},
			{"issuer", q.Get("issuer"), tt.issuer},
			{"secret", q.Get("secret"), key.Secret},
			{"algorithm", q.Get("algorithm"), "SHA1"},
			{"digits", q.Get("digits"), "6"},
			{"period", q.Get("period"), "30"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("URL %s = %q, want %q", c.what, c.got, c.want)
			}
		}
		// The library's own parser reads back the same key.
		parsed, err := otp.NewKeyFromURL(key.URL)
		if err != nil || parsed.Issuer() != tt.issuer || parsed.AccountName() != tt.account || parsed.Secret() != key.Secret ||
			parsed.Period() != 30 || parsed.Digits() != otp.DigitsSix || parsed.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("otp.NewKeyFromURL disagrees: %v", err)
		}

		img, err := png.Decode(bytes.NewReader(key.QRPNG))
		if err != nil {
			t.Fatalf("QRPNG is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != QRSize || b.Dy() != QRSize {
			t.Fatalf("QR image is %dx%d, want %dx%d", b.Dx(), b.Dy(), QRSize, QRSize)
		}
		checkQuietZone(t, img)

		now := time.Now()
		if _, err := Validate(key.Secret, refCode(t, key.Secret, now.Unix()/Period), now, 0); err != nil {
			t.Fatalf("a code for the new secret does not validate: %v", err)
		}
	}
	bad := []struct{ issuer, account string }{
		{"", "alice@fintrade.com"},
		{"Fiscus", ""},
		{"Fis:cus", "alice@fintrade.com"},
		{"Fiscus", "alice:x@fintrade.com"},
		{strings.Repeat("F", 257), "alice@fintrade.com"},
		{"Fiscus", strings.Repeat("a", 257)},
	}
	for _, b := range bad {
		if _, err := Generate(b.issuer, b.account); err == nil {
			t.Errorf("Generate(%.10q…, %.10q…) succeeded", b.issuer, b.account)
		}
	}
}

// checkQuietZone checks that img is black and white, has dark modules, and
// that the dark ones leave a white border at least 4 modules wide. The module
// size is the width of the top-left finder pattern's outer ring divided by 7.
func checkQuietZone(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, -1, -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y {
			case 0:
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			case 0xff:
			default:
				t.Fatalf("pixel (%d, %d) is grey", x, y)
			}
		}
	}
	if maxX < 0 {
		t.Fatal("QR image is blank")
	}
	ring := 0 // dark run along the finder pattern's top edge
	for x := minX; x < b.Max.X && color.GrayModel.Convert(img.At(x, minY)).(color.Gray).Y == 0; x++ {
		ring++
	}
	module := ring / 7
	if module < 1 || ring%7 != 0 {
		t.Fatalf("finder pattern edge is %d pixels, not a multiple of 7", ring)
	}
	for _, gap := range []int{minX - b.Min.X, minY - b.Min.Y, b.Max.X - 1 - maxX, b.Max.Y - 1 - maxY} {
		if gap < quietZone*module {
			t.Fatalf("quiet zone %d pixels, want at least %d (4 modules of %d)", gap, quietZone*module, module)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^[` + recoveryAlphabet + `]{4}-[` + recoveryAlphabet + `]{4}-[` + recoveryAlphabet + `]{4}$`)
	codes, err := NewRecoveryCodes(MaxRecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != MaxRecoveryCodes {
		t.Fatalf("got %d codes, want %d", len(codes), MaxRecoveryCodes)
	}
	seen := map[string]bool{}
	used := map[rune]bool{}
	for _, c := range codes {
		if !format.MatchString(c) {
			t.Fatalf("code %q is not xxxx-xxxx-xxxx from the alphabet", c)
		}
		if seen[c] {
			t.Fatalf("code %q repeated", c)
		}
		seen[c] = true
		for _, r := range strings.ReplaceAll(c, "-", "") {
			used[r] = true
		}
	}
	// 1,200 uniform draws miss a given character with probability (31/32)^1200,
	// about 1e-16: all 32 must appear, or the alphabet is not fully used.
	if len(used) != len(recoveryAlphabet) {
		t.Fatalf("codes use %d distinct characters, want %d", len(used), len(recoveryAlphabet))
	}
	if strings.ContainsAny(recoveryAlphabet, "01lo") || len(recoveryAlphabet) != 32 {
		t.Fatal("alphabet must have 32 characters and none of 0, 1, l, o")
	}
	for _, n := range []int{0, -1, MaxRecoveryCodes + 1} {
		if _, err := NewRecoveryCodes(n); err == nil {
			t.Errorf("NewRecoveryCodes(%d) succeeded", n)
		}
	}
	one, err := NewRecoveryCodes(1)
	if err != nil || len(one) != 1 {
		t.Fatalf("NewRecoveryCodes(1) = %v, %v", one, err)
	}
}

func TestHashRecoveryCode(t *testing.T) {
	t.Parallel()
	// echo -n 7hkqmz4cx2pa | sha256sum
	const want = "8759a5f1f86aeaf2d05c8c2d3751459c20e316d7f692626e4507b6aab870c090"
	same := []string{"7hkq-mz4c-x2pa", "7HKQ-MZ4C-X2PA", "7hkq mz4c x2pa", "7hkqmz4cx2pa", " 7hkq-mz4c-x2pa\t", "7h-kq-mz-4c-x2-pa"}
	for _, c := range same {
		if got := HashRecoveryCode(c); got != HashRecoveryCode(same[0]) {
			t.Errorf("HashRecoveryCode(%q) differs from HashRecoveryCode(%q)", c, same[0])
		}
	}
	if got := HashRecoveryCode(same[0]); got != want {
		t.Errorf("HashRecoveryCode = %s, want SHA-256 hex %s", got, want)
	}
	for _, c := range []string{"7hkq-mz4c-x2pb", "7hkq-mz4c-x2p", "7hkq_mz4c_x2pa"} {
		if HashRecoveryCode(c) == want {
			t.Errorf("HashRecoveryCode(%q) collides", c)
		}
	}
	hashes := []string{HashRecoveryCode("aaaa-bbbb-cccc"), want, HashRecoveryCode("dddd-eeee-ffff")}
	tests := []struct {
		code string
		want int
	}{
		{"7HKQ MZ4C X2PA", 1},
		{"aaaabbbbcccc", 0},
		{"dddd-eeee-ffff", 2},
		{"7hkq-mz4c-x2pb", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := MatchRecoveryCode(tt.code, hashes); got != tt.want {
			t.Errorf("MatchRecoveryCode(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
	if got := MatchRecoveryCode("7hkq-mz4c-x2pa", nil); got != -1 {
		t.Errorf("MatchRecoveryCode(no hashes) = %d", got)
	}
}
