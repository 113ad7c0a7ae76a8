package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// HashSize is the size of a chain hash in bytes (SHA-256).
const HashSize = sha256.Size

// canonicalVersion is the first byte of the canonical encoding. A change to
// the encoding gets a new version; Verify only knows version 1.
const canonicalVersion = 1

// genesis is prev_hash of the first event (seq 1): 32 zero bytes.
var genesis [HashSize]byte

// text is the type of the variable-length fields: string when sealing (read
// with Scan into strings), []byte when verifying (read as sql.RawBytes).
type text interface{ ~string | ~[]byte }

// fields are an event's variable-length fields in canonical order.
type fields[T text] struct {
	ID, ActorKind, ActorID, Action, TargetType, TargetID, RequestID, IP, Details T
}

// appendCanonical appends the canonical encoding of one event to dst:
//
//	version  1 byte   = 1
//	seq      8 bytes  big-endian unsigned
//	at       8 bytes  big-endian two's complement, Unix microseconds UTC
//	then, for id, actor_kind, actor_id, action, target_type, target_id,
//	request_id, ip and details, in that order:
//	length   4 bytes  big-endian unsigned, the field's length in bytes
//	bytes    the field exactly as stored (details: canonical JSON)
//
// Every field has a fixed size or a length prefix, so two different events
// never encode to the same bytes ("ab"+"c" and "a"+"bc" differ), and seq is
// inside, so an event cannot be moved to another position without changing
// its hash.
func appendCanonical[T text](dst []byte, seq, at int64, f *fields[T]) []byte {
	dst = append(dst, canonicalVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(at))
	for _, v := range [...]T{f.ID, f.ActorKind, f.ActorID, f.Action, f.TargetType, f.TargetID, f.RequestID, f.IP, f.Details} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// chainInput appends what is hashed for one event: prev_hash followed by the
// canonical encoding.
func chainInput[T text](dst, prev []byte, seq, at int64, f *fields[T]) []byte {
	dst = append(dst, prev...)
	return appendCanonical(dst, seq, at, f)
}
