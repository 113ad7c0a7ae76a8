// Package keyring encrypts data at rest and derives purpose-bound keys from
// the application secret.
//
// Guarantees:
//   - Encrypt seals with AES-256-GCM under the primary key and a fresh random
//     96-bit nonce from crypto/rand, and writes the key's ID in front of the
//     result: "<kid>.<base64url(nonce || ciphertext || tag)>" (unpadded
//     URL-safe base64). Nonces are random, so one key should seal well under
//     2^32 messages; rotate before that.
//   - Decrypt returns the plaintext only if the ciphertext, its key ID and the
//     associated data (aad) are exactly those Encrypt saw; any change, a wrong
//     aad, an unknown key ID or a truncated value is an error. Use aad to bind
//     a value to its row and column (for example "users.totp_secret:usr_…") so
//     that a ciphertext copied to another row does not decrypt.
//   - Keys rotate: a key file lists keys by ID, the first is the primary that
//     encrypts, all of them decrypt, and NeedsRotation tells which stored
//     values to re-encrypt.
//   - Subkey derives independent 32-byte keys for different purposes from one
//     application secret with HKDF-SHA256 (RFC 5869).
//   - Key material never appears in errors, in String or in %v output.
package keyring

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

const (
	// KeySize is the length of every data-encryption key, in bytes (AES-256).
	KeySize = 32
	// MaxPlaintext is the largest plaintext Encrypt accepts, in bytes.
	MaxPlaintext = 1 << 20
	// MaxKeys is the most keys a key file may hold.
	MaxKeys = 64
	// maxKeyFileSize bounds the key file read, in bytes.
	maxKeyFileSize = 64 << 10
	// maxIDLen is the longest key ID.
	maxIDLen = 16

	// DerivedKeyID is the ID of the key derived from the application secret
	// when there is no key file.
	DerivedKeyID = "s1"

	hkdfSalt      = "fiscus-keyring-v1"
	nonceSize     = 12
	tagSize       = 16
	maxCiphertext = maxIDLen + 1 + (nonceSize+MaxPlaintext+tagSize+2)/3*4
)

var (
	// ErrMalformed is returned by Decrypt for a value that is not
	// "<kid>.<base64url>" with room for a nonce and a tag.
	ErrMalformed = errors.New("keyring: malformed ciphertext")
	// ErrUnknownKey is returned by Decrypt for a key ID the keyring lacks.
	ErrUnknownKey = errors.New("keyring: unknown key id")
	// ErrAuth is returned by Decrypt when authentication fails: the value
	// was altered, or aad differs from the one used to encrypt.
	ErrAuth = errors.New("keyring: message authentication failed")
)

// Keyring holds the data-encryption keys. It is safe for concurrent use.
type Keyring struct {
	primary string
	ids     []string // in file order; ids[0] == primary
	aeads   map[string]cipher.AEAD
}

// New builds the keyring. With keyFile "", it holds one key, ID "s1",
// derived from appSecret with HKDF-SHA256 (salt "fiscus-keyring-v1", info
// "data-encryption s1"); appSecret must not be empty. Otherwise keyFile holds
// lines "<id>:<base64 32-byte key>", where ids match [a-z0-9]{1,16} and are
// unique; blank lines and text after # are ignored; the first key is the
// primary. Keys may be standard base64, padded or not. appSecret is not used
// when keyFile is set.
func New(appSecret string, keyFile string) (*Keyring, error) {
	if keyFile == "" {
		if appSecret == "" {
			return nil, errors.New("keyring: empty application secret")
		}
		key, err := hkdf.Key(sha256.New, []byte(appSecret), []byte(hkdfSalt), "data-encryption "+DerivedKeyID, KeySize)
		if err != nil {
			return nil, fmt.Errorf("keyring: derive key: %w", err)
		}
		return build([]string{DerivedKeyID}, [][]byte{key})
	}
	ids, keys, err := readKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	return build(ids, keys)
}

func build(ids []string, keys [][]byte) (*Keyring, error) {
	k := &Keyring{primary: ids[0], ids: ids, aeads: make(map[string]cipher.AEAD, len(ids))}
	for i, id := range ids {
		block, err := aes.NewCipher(keys[i])
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s: %w", id, err)
		}
		// Seal draws a fresh 96-bit nonce from crypto/rand and prepends it;
		// Open reads it back from the front.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s: %w", id, err)
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// readKeyFile parses a key file; errors name the file and line, never a key.
func readKeyFile(path string) ([]string, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, nil, fmt.Errorf("keyring: key file %s: larger than %d bytes", path, maxKeyFileSize)
	}
	var (
		ids   []string
		keys  [][]byte
		where = map[string]int{} // id → line
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("keyring: key file %s line %d: "+format, append([]any{path, line}, args...)...)
		}
		id, enc, ok := strings.Cut(text, ":")
		if !ok {
			return nil, nil, bad("want <id>:<base64 key>")
		}
		id, enc = strings.TrimSpace(id), strings.TrimSpace(enc)
		if !validID(id) {
			return nil, nil, bad("key id must be 1 to %d characters a-z or 0-9", maxIDLen)
		}
		if first, dup := where[id]; dup {
			return nil, nil, bad("key id %s already used on line %d", id, first)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, nil, bad("key %s is not valid base64", id)
		}
		if len(key) != KeySize {
			return nil, nil, bad("key %s is %d bytes, want exactly %d", id, len(key), KeySize)
		}
		for i, other := range keys {
			if bytes.Equal(key, other) {
				return nil, nil, bad("key %s repeats the key of %s", id, ids[i])
			}
		}
		if len(ids) == MaxKeys {
			return nil, nil, bad("more than %d keys", MaxKeys)
		}
		where[id] = line
		ids, keys = append(ids, id), append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("keyring: key file %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("keyring: key file %s: no keys", path)
	}
	return ids, keys, nil
}

// decodeKey accepts standard base64 with or without padding.
func decodeKey(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

func validID(id string) bool {
	if len(id) < 1 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// PrimaryID returns the ID of the key Encrypt uses.
func (k *Keyring) PrimaryID() string { return k.primary }

// IDs returns the key IDs, primary first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// String describes the keyring without key material.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring(primary=%s, keys=%s)", k.primary, strings.Join(k.ids, ","))
}

// GoString keeps %#v from printing key material.
func (k *Keyring) GoString() string { return k.String() }

// Encrypt seals plaintext under the primary key, bound to aad.
func (k *Keyring) Encrypt(plaintext, aad []byte) (string, error) {
	if len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("keyring: plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintext)
	}
	sealed := k.aeads[k.primary].Seal(nil, nil, plaintext, aad)
	return k.primary + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value made by Encrypt with any key of the keyring.
func (k *Keyring) Decrypt(ciphertext string, aad []byte) ([]byte, error) {
	if len(ciphertext) > maxCiphertext {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	id, body, ok := strings.Cut(ciphertext, ".")
	if !ok || !validID(id) {
		return nil, fmt.Errorf("%w: want <key id>.<base64url>", ErrMalformed)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: body is not unpadded base64url", ErrMalformed)
	}
	if len(sealed) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	plain, err := aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, ErrAuth
	}
	return plain, nil
}

// NeedsRotation reports whether ciphertext was not encrypted with the
// primary key (including when it is not a keyring value at all), so it
// should be decrypted and encrypted again.
func (k *Keyring) NeedsRotation(ciphertext string) bool {
	id, _, ok := strings.Cut(ciphertext, ".")
	return !ok || id != k.primary
}

// Subkey derives a 32-byte key for one purpose ("jwt-signing", "csrf",
// "webhook", …) from appSecret with HKDF-SHA256 (salt "fiscus-keyring-v1",
// info "subkey:" + purpose). The same inputs always give the same key;
// different purposes give independent keys, none equal to the
// data-encryption key New derives. It panics if appSecret or purpose is
// empty: a key derived from nothing would be public.
func Subkey(appSecret, purpose string) []byte {
	if appSecret == "" || purpose == "" {
		panic("keyring: Subkey needs a non-empty secret and purpose")
	}
	key, err := hkdf.Key(sha256.New, []byte(appSecret), []byte(hkdfSalt), "subkey:"+purpose, KeySize)
	if err != nil {
		panic(fmt.Sprintf("keyring: derive subkey: %v", err)) // only for lengths over 255×32 bytes
	}
	return key
}
