// Package totp implements two-factor authentication with time-based one-time
// passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, the settings
// every authenticator app supports) and single-use recovery codes.
//
// Guarantees:
//   - Secrets are 20 random bytes (160 bits, RFC 4226's recommendation) from
//     crypto/rand, handed out as unpadded base32, an otpauth:// URL and a
//     256×256 PNG QR code of exactly that URL, with a 4-module quiet zone.
//   - Validate accepts the code of the current step or of one step either
//     side (±30 s of clock drift) and returns the step that matched. It
//     refuses any step at or before lastStep, so a code, once accepted and its
//     step stored by the caller, can never be accepted again, nor can an
//     earlier one. Codes are compared in constant time, and every step of the
//     window is computed and compared whatever matches.
//   - Recovery codes carry 60 bits from crypto/rand each and are stored only
//     as SHA-256 hashes of their normalized form.
//   - Secrets and codes never appear in errors.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"
)

// Error codes of Validate.
const (
	CodeInvalid  fault.Code = "totp_invalid"
	CodeReplayed fault.Code = "totp_replayed"
)

const (
	// Period is the length of one step, in seconds.
	Period = 30
	// Digits is the length of a code.
	Digits = 6
	// Skew is how many steps either side of the current one Validate accepts.
	Skew = 1
	// SecretSize is the length of a generated secret, in bytes.
	SecretSize = 20
	// minSecretSize is the shortest secret Validate uses (RFC 4226 R6: at
	// least 128 bits).
	minSecretSize = 16
	// QRSize is the width and height of the QR code image, in pixels.
	QRSize = 256
	// MaxRecoveryCodes bounds NewRecoveryCodes.
	MaxRecoveryCodes = 100
	// maxField bounds issuer and account names, in bytes.
	maxField = 256
)

// Key is a freshly generated TOTP secret in the forms a user needs to enrol
// it in an authenticator app. All three carry the secret: show them once,
// store only Secret, encrypted.
type Key struct {
	Secret string // base32, no padding
	URL    string // otpauth://totp/<issuer>:<account>?algorithm=SHA1&digits=6&issuer=<issuer>&period=30&secret=<Secret>
	QRPNG  []byte // PNG image of a QR code of URL
}

// Generate makes a new secret for account (usually an email address) at
// issuer (the service name shown in the app). Neither may be empty, longer
// than 256 bytes or contain a colon, which separates them in the URL.
func Generate(issuer, account string) (Key, error) {
	for _, f := range []struct{ name, v string }{{"issuer", issuer}, {"account", account}} {
		if f.v == "" || len(f.v) > maxField || strings.Contains(f.v, ":") {
			return Key{}, fmt.Errorf("totp: %s must be 1 to %d bytes without a colon", f.name, maxField)
		}
	}
	k, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      Period,
		SecretSize:  SecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
		Rand:        rand.Reader,
	})
	if err != nil {
		return Key{}, fmt.Errorf("totp: generate: %w", err)
	}
	u := k.String() // the URL as generated; the QR code carries exactly this
	img, err := qrImage(u)
	if err != nil {
		return Key{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Key{}, fmt.Errorf("totp: QR code: %w", err)
	}
	return Key{Secret: k.Secret(), URL: u, QRPNG: buf.Bytes()}, nil
}

// quietZone is the white border around a QR code, in modules; ISO/IEC 18004
// asks for 4 so scanners find the code on any background.
const quietZone = 4

// qrImage draws content as a QRSize×QRSize black-on-white QR code (error
// correction level M) with whole-pixel modules and a quiet zone of at least
// quietZone modules.
func qrImage(content string) (image.Image, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	n := code.Bounds().Dx()
	scale := QRSize / (n + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("totp: QR code of %d modules does not fit %d pixels", n, QRSize)
	}
	img := image.NewGray(image.Rect(0, 0, QRSize, QRSize))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	off := (QRSize - n*scale) / 2
	for y := range n {
		for x := range n {
			if color.GrayModel.Convert(code.At(code.Bounds().Min.X+x, code.Bounds().Min.Y+y)).(color.Gray).Y < 0x80 {
				r := image.Rect(off+x*scale, off+y*scale, off+(x+1)*scale, off+(y+1)*scale)
				draw.Draw(img, r, image.Black, image.Point{}, draw.Src)
			}
		}
	}
	return img, nil
}

// Validate checks code against secret at time now. It accepts the code of
// the current 30-second step or of the step just before or after, and
// returns the step (the RFC 6238 counter, Unix time / 30) that matched; the
// caller stores it and passes it as lastStep next time (0 before the first
// use). Spaces in code are ignored ("123 456").
//
// Errors, all *fault.Error:
//   - CodeInvalid: code is not 6 digits, or matches no step of the window;
//   - CodeReplayed: code matches only steps <= lastStep (already used, or
//     older than a code already used);
//   - fault.Internal: secret is not base32 of at least 16 bytes, or now is
//     before 1970 (a server-side fault, not the user's).
func Validate(secret, code string, now time.Time, lastStep int64) (step int64, err error) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(code) != Digits || strings.Trim(code, "0123456789") != "" {
		return 0, fault.New(CodeInvalid, "The code must be %d digits.", Digits)
	}
	if err := checkSecret(secret); err != nil {
		return 0, err
	}
	unix := now.Unix()
	if unix < Skew*Period {
		return 0, fault.New(fault.Internal, "The server clock is wrong.")
	}
	current := unix / Period
	var (
		matched  bool
		fresh    bool
		freshest int64
	)
	// Check every step of the window even after a match, so the time taken
	// does not depend on which step (if any) matched.
	for s := current - Skew; s <= current+Skew; s++ {
		want, err := stepCode(secret, s, otp.DigitsSix)
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		matched = true
		if s > lastStep && !fresh {
			fresh, freshest = true, s // the earliest fresh step: burn no more than needed
		}
	}
	switch {
	case fresh:
		return freshest, nil
	case matched:
		return 0, fault.New(CodeReplayed, "This code has already been used; wait for the next one.")
	default:
		return 0, fault.New(CodeInvalid, "The code is not valid.")
	}
}

// checkSecret refuses a secret that is not base32 of at least minSecretSize
// bytes, as stored secrets come from Generate.
func checkSecret(secret string) error {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil || len(raw) < minSecretSize {
		return fault.Wrap(errors.New("totp: stored secret is not base32 of at least 16 bytes"), fault.Internal, "Two-factor authentication is misconfigured for this account.")
	}
	return nil
}

// stepCode returns the HOTP code (RFC 4226) of secret for counter step.
func stepCode(secret string, step int64, digits otp.Digits) (string, error) {
	c, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fault.Wrap(errors.New("totp: compute code"), fault.Internal, "Two-factor authentication is misconfigured for this account.")
	}
	return c, nil
}

// recoveryAlphabet has 32 characters, so each carries exactly 5 bits; it
// leaves out 0, 1, l and o, which are easily mistaken for one another.
const recoveryAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// recoveryLen is the number of random characters in a recovery code:
// 12 × 5 = 60 bits.
const recoveryLen = 12

// NewRecoveryCodes returns n distinct single-use recovery codes such as
// "7hkq-mz4c-x2pa": 12 characters from a 32-character alphabet (60 bits from
// crypto/rand) in groups of four. Show them once; store HashRecoveryCode of
// each. n must be 1 to MaxRecoveryCodes.
func NewRecoveryCodes(n int) ([]string, error) {
	if n < 1 || n > MaxRecoveryCodes {
		return nil, fmt.Errorf("totp: recovery code count %d outside [1, %d]", n, MaxRecoveryCodes)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	// A repeat has probability below n²/2^61; the bound only keeps the loop
	// finite should crypto/rand ever misbehave.
	for attempts := 0; len(codes) < n; attempts++ {
		if attempts == 2*n {
			return nil, errors.New("totp: random source repeats itself")
		}
		var raw [recoveryLen]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, fmt.Errorf("totp: read random: %w", err)
		}
		var b strings.Builder
		for i, r := range raw {
			if i > 0 && i%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[r&31]) // 256 is a multiple of 32: uniform
		}
		code := b.String()
		if seen[code] {
			continue
		}
		seen[code] = true
		codes = append(codes, code)
	}
	return codes, nil
}

// HashRecoveryCode returns the hex SHA-256 of code normalized: lower-cased,
// with spaces, tabs and hyphens removed, so "7HKQ MZ4C X2PA" and
// "7hkq-mz4c-x2pa" hash alike. A fast hash is enough: codes carry 60 random
// bits, beyond reach of guessing.
func HashRecoveryCode(code string) string {
	norm := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-':
			return -1
		}
		return r
	}, strings.ToLower(code))
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

// MatchRecoveryCode returns the index of the stored hash that code matches,
// or -1. It compares against every hash in constant time. The caller must
// then delete (or mark used) that hash in the same transaction that logs the
// user in, so each code works once.
func MatchRecoveryCode(code string, hashes []string) int {
	h := []byte(HashRecoveryCode(code))
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h, []byte(stored)) == 1 && found < 0 {
			found = i
		}
	}
	return found
}
