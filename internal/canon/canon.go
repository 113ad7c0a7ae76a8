// Package canon holds the small rules shared by the records Fiscus hashes
// and replays (audit events, outbox events): canonical JSON objects, dotted
// lower-case names, words and printable text.
package canon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Object marshals v and rewrites it in canonical form: compact, object keys
// sorted (encoding/json sorts map keys), numbers as written (decoded as
// json.Number, never as floats), HTML characters unescaped. v must marshal
// to a JSON object of at most max bytes in that form; nil is {}.
func Object(v any, max int) ([]byte, error) {
	if v == nil {
		return []byte("{}"), nil
	}
	if e, ok := v.(Encoded); ok {
		return e.bytes(max)
	}
	if m, ok := v.(map[string]any); ok && flat(m) {
		// Already canonical once encoded: the decode and re-encode below
		// would give the same bytes.
		return encode(m, max)
	}
	return decodedObject(v, max)
}

// Encoded is a JSON object already in canonical form, made by Encode. Object
// takes it as it is (checking only its length), so that one change's
// details are encoded once for every record that carries them: a transfer's
// audit event and its outbox events.
type Encoded struct{ raw string }

// Encode returns Object(v, max) for reuse as an Encoded. The zero Encoded
// is {}.
func Encode(v any, max int) (Encoded, error) {
	raw, err := Object(v, max)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{raw: string(raw)}, nil
}

// bytes returns a copy of the canonical form (each record gets its own),
// refusing more than max bytes.
func (e Encoded) bytes(max int) ([]byte, error) {
	if e.raw == "" {
		return []byte("{}"), nil
	}
	if len(e.raw) > max {
		return nil, tooLong(len(e.raw), max)
	}
	return []byte(e.raw), nil
}

func tooLong(n, max int) error { return fmt.Errorf("%d bytes is more than %d", n, max) }

// decodedObject is Object by marshalling, decoding and encoding again.
func decodedObject(v any, max int) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// The canonical form is about as long as the marshalled value; refuse
	// one far over the limit before spending time decoding it.
	if len(raw) > 4*max {
		return nil, tooLong(len(raw), max)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("not a JSON object")
	}
	return encode(obj, max)
}

// encode writes m compact, keys sorted, HTML characters unescaped, and
// refuses more than max bytes.
func encode(m map[string]any, max int) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > max {
		return nil, tooLong(len(out), max)
	}
	return out, nil
}

// DottedName reports whether s is at least two dot-separated words (see
// Word) of at most max bytes in all: "auth.login_failed".
func DottedName(s string, max int) bool {
	if len(s) > max {
		return false
	}
	n := 0
	for w := range strings.SplitSeq(s, ".") {
		if !Word(w, max) {
			return false
		}
		n++
	}
	return n >= 2
}

// Word reports whether s is one [a-z][a-z0-9_]* word of at most max bytes.
func Word(s string, max int) bool {
	if len(s) == 0 || len(s) > max || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Text reports whether s is at most max bytes of UTF-8 without control
// characters (which PostgreSQL's TEXT, log lines and terminals mishandle).
func Text(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// Clip shortens s to at most 80 bytes (and an ellipsis) for an error message.
func Clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// flat reports whether m's keys and values are already in canonical form
// when encoded as they are: valid UTF-8 keys, and values that are strings
// of valid UTF-8, booleans, integers or nil. Invalid UTF-8 is the one thing
// a decode and re-encode would change (encoding/json writes it as \ufffd,
// which decodes to U+FFFD, written back as itself).
func flat(m map[string]any) bool {
	for k, v := range m {
		if !utf8.ValidString(k) {
			return false
		}
		switch v := v.(type) {
		case string:
			if !utf8.ValidString(v) {
				return false
			}
		case bool, int, int64, nil:
		default:
			return false
		}
	}
	return true
}
