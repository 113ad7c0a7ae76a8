package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "test-app-secret-0123456789abcdef-0123456789"

// keyB64 returns a distinct, recognisable 32-byte key in base64.
func keyB64(fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, KeySize))
}

func writeKeyFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustNew(t *testing.T, appSecret, content string) *Keyring {
	t.Helper()
	path := ""
	if content != "" {
		path = writeKeyFile(t, content)
	}
	k, err := New(appSecret, path)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rings := map[string]*Keyring{
		"derived":  mustNew(t, secret, ""),
		"key file": mustNew(t, "", "k2:"+keyB64(2)+"\nk1:"+keyB64(1)+"\n"),
	}
	plaintexts := [][]byte{nil, {}, []byte("x"), []byte("4111111111111111"), bytes.Repeat([]byte{0xA5}, 4096), make([]byte, MaxPlaintext)}
	for name, k := range rings {
		for _, pt := range plaintexts {
			t.Run(fmt.Sprintf("%s/%d bytes", name, len(pt)), func(t *testing.T) {
				t.Parallel()
				aad := []byte("cards.pan:card_01")
				ct, err := k.Encrypt(pt, aad)
				if err != nil {
					t.Fatalf("Encrypt: %v", err)
				}
				id, body, ok := strings.Cut(ct, ".")
				if !ok || id != k.PrimaryID() {
					t.Fatalf("ciphertext %.20q… does not start with %q.", ct, k.PrimaryID())
				}
				raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
				if err != nil {
					t.Fatalf("body is not unpadded base64url: %v", err)
				}
				if len(raw) != 12+len(pt)+16 {
					t.Fatalf("sealed length %d, want nonce(12)+%d+tag(16)", len(raw), len(pt))
				}
				if len(pt) >= 8 && bytes.Contains(raw, pt[:8]) {
					t.Fatal("ciphertext contains plaintext")
				}
				got, err := k.Decrypt(ct, aad)
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatal("Decrypt returned different bytes")
				}
				if k.NeedsRotation(ct) {
					t.Fatal("NeedsRotation = true for a primary-key ciphertext")
				}
				again, err := k.Encrypt(pt, aad)
				if err != nil {
					t.Fatal(err)
				}
				if again == ct || again[:len(id)+17] == ct[:len(id)+17] {
					t.Fatal("two encryptions share a nonce")
				}
			})
		}
	}
}

func TestEncryptTooLarge(t *testing.T) {
	t.Parallel()
	if _, err := mustNew(t, secret, "").Encrypt(make([]byte, MaxPlaintext+1), nil); err == nil {
		t.Fatal("Encrypt accepted a plaintext over MaxPlaintext")
	}
}

// TestDerivedKey checks the derived key against an AES-GCM opened by hand
// with the documented HKDF inputs, so the derivation cannot drift silently.
func TestDerivedKey(t *testing.T) {
	t.Parallel()
	k := mustNew(t, secret, "")
	if k.PrimaryID() != "s1" {
		t.Fatalf("PrimaryID = %q, want s1", k.PrimaryID())
	}
	ct, err := k.Encrypt([]byte("hello"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), []byte("fiscus-keyring-v1"), "data-encryption s1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(ct, "s1."))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := gcm.Open(nil, raw[:12], raw[12:], []byte("aad"))
	if err != nil || string(pt) != "hello" {
		t.Fatalf("independent AES-256-GCM open = %q, %v", pt, err)
	}
	// The same secret gives the same key; another secret does not.
	if _, err := mustNew(t, secret, "").Decrypt(ct, []byte("aad")); err != nil {
		t.Fatalf("same secret: %v", err)
	}
	if _, err := mustNew(t, secret+"x", "").Decrypt(ct, []byte("aad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("other secret: %v, want ErrAuth", err)
	}
	if _, err := New("", ""); err == nil {
		t.Fatal("New accepted an empty secret without a key file")
	}
}

func TestTamperDetected(t *testing.T) {
	t.Parallel()
	k := mustNew(t, secret, "")
	aad := []byte("users.totp_secret:usr_1")
	ct, err := k.Encrypt([]byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"), aad)
	if err != nil {
		t.Fatal(err)
	}
	id, body, _ := strings.Cut(ct, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	// Flip every bit of every byte: nonce, ciphertext and tag.
	for i := range raw {
		for bit := range 8 {
			bad := bytes.Clone(raw)
			bad[i] ^= 1 << bit
			if _, err := k.Decrypt(id+"."+base64.RawURLEncoding.EncodeToString(bad), aad); !errors.Is(err, ErrAuth) {
				t.Fatalf("flipping bit %d of byte %d: err = %v, want ErrAuth", bit, i, err)
			}
		}
	}
	tests := []struct {
		name string
		ct   string
		want error
	}{
		{"truncated by one byte", id + "." + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), ErrAuth},
		{"extended by one byte", id + "." + base64.RawURLEncoding.EncodeToString(append(bytes.Clone(raw), 0)), ErrAuth},
		{"nonce and tag only", id + "." + base64.RawURLEncoding.EncodeToString(raw[:28]), ErrAuth},
		{"shorter than nonce and tag", id + "." + base64.RawURLEncoding.EncodeToString(raw[:27]), ErrMalformed},
		{"empty body", id + ".", ErrMalformed},
		{"no separator", strings.Replace(ct, ".", "", 1), ErrMalformed},
		{"empty", "", ErrMalformed},
		{"padded body", ct + "==", ErrMalformed},
		{"standard base64 body", id + "." + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 40)), ErrMalformed},
		{"upper-case key id", "S1." + body, ErrMalformed},
		{"key id too long", strings.Repeat("a", 17) + "." + body, ErrMalformed},
		{"unknown key id", "s2." + body, ErrUnknownKey},
		{"oversized", id + "." + strings.Repeat("A", maxCiphertext), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pt, err := k.Decrypt(tt.ct, aad)
			if !errors.Is(err, tt.want) || pt != nil {
				t.Fatalf("Decrypt = %q, %v; want nil, %v", pt, err, tt.want)
			}
		})
	}
}

func TestAADBinding(t *testing.T) {
	t.Parallel()
	k := mustNew(t, secret, "")
	ct, err := k.Encrypt([]byte("secret"), []byte("users.totp_secret:usr_1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range [][]byte{nil, {}, []byte("users.totp_secret:usr_2"), []byte("users.totp_secret:usr_1 "), []byte("USERS.totp_secret:usr_1")} {
		if _, err := k.Decrypt(ct, aad); !errors.Is(err, ErrAuth) {
			t.Errorf("Decrypt with aad %q: %v, want ErrAuth", aad, err)
		}
	}
	// nil and empty aad are the same associated data.
	ct, err = k.Encrypt([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ct, []byte{}); err != nil {
		t.Errorf("nil vs empty aad: %v", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := mustNew(t, "", "k1:"+keyB64(1)+"\n")
	ct, err := old.Encrypt([]byte("pan"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustNew(t, "", "# rotated\nk2:"+keyB64(2)+"\nk1:"+keyB64(1)+"\n")
	if rotated.PrimaryID() != "k2" {
		t.Fatalf("PrimaryID = %q, want k2 (the first line)", rotated.PrimaryID())
	}
	if !rotated.NeedsRotation(ct) {
		t.Fatal("NeedsRotation = false for a ciphertext under the old key")
	}
	pt, err := rotated.Decrypt(ct, []byte("aad"))
	if err != nil || string(pt) != "pan" {
		t.Fatalf("rotated keyring Decrypt(old) = %q, %v", pt, err)
	}
	fresh, err := rotated.Encrypt(pt, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, "k2.") || rotated.NeedsRotation(fresh) {
		t.Fatalf("re-encrypted value %.3q… still needs rotation", fresh)
	}
	if _, err := old.Decrypt(fresh, []byte("aad")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring Decrypt(new) = %v, want ErrUnknownKey", err)
	}
	// A keyring that dropped k1 can no longer read it.
	dropped := mustNew(t, "", "k2:"+keyB64(2)+"\n")
	if _, err := dropped.Decrypt(ct, []byte("aad")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Decrypt after dropping k1 = %v, want ErrUnknownKey", err)
	}
	// The same ID with a different key is an authentication failure, not a
	// silent success.
	swapped := mustNew(t, "", "k1:"+keyB64(9)+"\n")
	if _, err := swapped.Decrypt(ct, []byte("aad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("Decrypt with a different k1 = %v, want ErrAuth", err)
	}
	for _, v := range []string{"", "garbage", "k1", ".abc"} {
		if !rotated.NeedsRotation(v) {
			t.Errorf("NeedsRotation(%q) = false", v)
		}
	}
	if got := strings.Join(rotated.IDs(), ","); got != "k2,k1" {
		t.Fatalf("IDs = %s, want k2,k1", got)
	}
}

func TestKeyFileParsing(t *testing.T) {
	t.Parallel()
	k1, k2 := keyB64(1), keyB64(2)
	rawK1 := strings.TrimRight(k1, "=")
	tests := []struct {
		name    string
		content string
		primary string // "" means an error is expected
		errLine string // for errors: the "line N" the message must name
	}{
		{"one key", "k1:" + k1 + "\n", "k1", ""},
		{"comments, blanks, spaces, CRLF", "# keys\r\n\r\n  k1 : " + k1 + "  # current\r\nk0:" + k2 + "\r\n", "k1", ""},
		{"unpadded base64", "k1:" + rawK1 + "\n", "k1", ""},
		{"no trailing newline", "k1:" + k1, "k1", ""},
		{"longest id", "abcdefghij012345:" + k1, "abcdefghij012345", ""},
		{"empty file", "", "", "no keys"},
		{"only comments", "# nothing\n\n# here\n", "", "no keys"},
		{"missing colon", "# c\nk1 " + k1 + "\n", "", "line 2"},
		{"empty id", ":" + k1 + "\n", "", "line 1"},
		{"upper-case id", "K1:" + k1 + "\n", "", "line 1"},
		{"id with dash", "k-1:" + k1 + "\n", "", "line 1"},
		{"id too long", "abcdefghij0123456:" + k1 + "\n", "", "line 1"},
		{"duplicate id", "k1:" + k1 + "\nk1:" + k2 + "\n", "", "line 2"},
		{"duplicate key", "k1:" + k1 + "\nk2:" + k1 + "\n", "", "line 2"},
		{"empty key", "k1:\n", "", "line 1"},
		{"short key", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", "", "line 1"},
		{"long key", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n", "", "line 1"},
		{"16-byte key", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n", "", "line 1"},
		{"not base64", "k1:" + strings.Repeat("*", 44) + "\n", "", "line 1"},
		{"url-safe base64", "k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", "", "line 1"},
		{"hex key", "k1:" + strings.Repeat("ab", 32) + "\n", "", "line 1"},
		{"two keys on a line", "k1:" + k1 + " k2:" + k2 + "\n", "", "line 1"},
		{"too many keys", manyKeys(MaxKeys + 1), "", fmt.Sprintf("line %d", MaxKeys+1)},
		{"most keys", manyKeys(MaxKeys), "a0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeKeyFile(t, tt.content)
			k, err := New(secret, path)
			if tt.primary != "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if k.PrimaryID() != tt.primary {
					t.Fatalf("PrimaryID = %q, want %q", k.PrimaryID(), tt.primary)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted a bad key file")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tt.errLine) {
				t.Fatalf("error %q does not name the file and %q", msg, tt.errLine)
			}
			for _, key := range []string{k1, rawK1, k2, strings.Repeat("ab", 32)} {
				if strings.Contains(msg, key) {
					t.Fatalf("error %q contains key material", msg)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "absent")
		if _, err := New(secret, path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("New(missing file) = %v", err)
		}
	})
	t.Run("oversized file", func(t *testing.T) {
		t.Parallel()
		path := writeKeyFile(t, "k1:"+k1+"\n"+strings.Repeat("#", maxKeyFileSize))
		if _, err := New(secret, path); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("New(oversized file) = %v", err)
		}
	})
}

// manyKeys returns a key file with n distinct keys a0, a1, ….
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		key := make([]byte, KeySize)
		key[0], key[1] = byte(i), 0xEE
		fmt.Fprintf(&b, "a%d:%s\n", i, base64.StdEncoding.EncodeToString(key))
	}
	return b.String()
}

func TestNoKeyMaterialInOutput(t *testing.T) {
	t.Parallel()
	k := mustNew(t, "", "k2:"+keyB64(0x41)+"\nk1:"+keyB64(0x42)+"\n")
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, k)
		if out != "keyring(primary=k2, keys=k2,k1)" {
			t.Errorf("Sprintf(%q) = %q", format, out)
		}
	}
}

func TestSubkey(t *testing.T) {
	t.Parallel()
	purposes := []string{"jwt-signing", "csrf", "webhook", "session", "data-encryption s1"}
	seen := map[string]string{}
	for _, p := range purposes {
		key := Subkey(secret, p)
		if len(key) != 32 {
			t.Fatalf("Subkey(%q) is %d bytes", p, len(key))
		}
		if !bytes.Equal(key, Subkey(secret, p)) {
			t.Fatalf("Subkey(%q) is not deterministic", p)
		}
		if other, dup := seen[string(key)]; dup {
			t.Fatalf("Subkey(%q) == Subkey(%q)", p, other)
		}
		seen[string(key)] = p
		if bytes.Equal(key, Subkey(secret+"x", p)) {
			t.Fatalf("Subkey(%q) ignores the secret", p)
		}
	}
	// Pinned: a change to the derivation would invalidate every token and
	// signature made with the old keys.
	want, err := hkdf.Key(sha256.New, []byte(secret), []byte("fiscus-keyring-v1"), "subkey:csrf", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Subkey(secret, "csrf"), want) {
		t.Fatal("Subkey(csrf) differs from HKDF-SHA256(secret, salt fiscus-keyring-v1, info subkey:csrf)")
	}
	// No subkey equals the data-encryption key of New: a value encrypted by
	// the keyring cannot be opened with a subkey, even one whose purpose
	// spells the keyring's info string.
	ct, err := mustNew(t, secret, "").Encrypt([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := writeKeyFile(t, "s1:"+base64.StdEncoding.EncodeToString(Subkey(secret, "data-encryption s1"))+"\n")
	k, err := New("", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ct, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("subkey opened a keyring value: %v", err)
	}
	for _, args := range [][2]string{{"", "csrf"}, {secret, ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Subkey with secret set %t and purpose %q did not panic", args[0] != "", args[1])
				}
			}()
			Subkey(args[0], args[1])
		}()
	}
}
