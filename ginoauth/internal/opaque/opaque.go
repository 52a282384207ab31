// Package opaque mints and checks the toolkit's opaque tokens.
//
// A token is a kind prefix followed by the unpadded base64url encoding of
//
//	family (9 bytes) | secret (32 random bytes) | tag (16 bytes)
//
// where tag is HMAC-SHA256(key, prefix | family | secret) truncated to 128
// bits. The prefix makes tokens easy for secret scanners to spot and keeps
// a refresh token from passing as an access token; the tag lets a
// malformed or forged token be refused before any store round trip (as
// fosite's HMAC strategy does); the family names the grant every token
// minted from it shares. The store keeps only Signature(token), the
// SHA-256 of the whole string.
package opaque

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"unsafe"
)

// Prefixes of the three kinds of token.
const (
	AccessPrefix  = "goat_" // access token
	RefreshPrefix = "gort_" // refresh token
	CodePrefix    = "goac_" // authorization code
)

const (
	familyLen = 9
	secretLen = 32
	tagLen    = 16
	rawLen    = familyLen + secretLen + tagLen
	// EncodedLen is the length of a token without its prefix.
	EncodedLen = (rawLen*8 + 5) / 6
	// FamilyLen is the length of an encoded family.
	FamilyLen = familyLen * 4 / 3
	// MinKeyLen is the shortest HMAC key New accepts.
	MinKeyLen = 32
)

var enc = base64.RawURLEncoding.Strict()

// ErrMalformed is returned for a string that is not a token this Codec
// minted: wrong prefix, wrong length, bad encoding or a tag that does not
// verify.
var ErrMalformed = errors.New("opaque: malformed or forged token")

// Codec mints and checks tokens under one HMAC key.
type Codec struct {
	key []byte
	// macs are keyed HMACs to reuse (*mac; Reset brings one back to its
	// keyed state): building one costs five allocations, on every request.
	macs sync.Pool
}

// mac is a pooled HMAC with room for its input and sum: what is written
// through the hash.Hash interface escapes to the heap, so the caller's
// buffers are copied here instead of escaping on every call.
type mac struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// New returns a Codec keyed with key, which must be at least MinKeyLen bytes.
func New(key []byte) (*Codec, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("opaque: key must be at least 32 bytes")
	}
	c := &Codec{key: append([]byte(nil), key...)}
	c.macs.New = func() any { return &mac{h: hmac.New(sha256.New, c.key)} }
	return c, nil
}

// NewFamily returns a fresh random family identifier.
func NewFamily() (string, error) {
	var b [familyLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return enc.EncodeToString(b[:]), nil
}

// Mint returns a new token of the kind prefix in family.
func (c *Codec) Mint(prefix, family string) (string, error) {
	var raw [rawLen]byte
	if len(family) != FamilyLen {
		return "", errBadFamily
	}
	if n, err := enc.Decode(raw[:familyLen], []byte(family)); err != nil || n != familyLen {
		return "", errBadFamily
	}
	if _, err := rand.Read(raw[familyLen : familyLen+secretLen]); err != nil {
		return "", err
	}
	c.tag(raw[familyLen+secretLen:], prefix, raw[:familyLen+secretLen])
	// Built in one buffer (on the stack for the package's own prefixes),
	// so the token is the one allocation.
	var buf [8 + EncodedLen]byte
	return string(enc.AppendEncode(append(buf[:0], prefix...), raw[:])), nil
}

var errBadFamily = errors.New("opaque: bad family")

// Parse checks token against the kind prefix and returns its family. It
// makes no store round trip and runs in constant time in the token's
// secret.
func (c *Codec) Parse(prefix, token string) (family string, err error) {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != EncodedLen {
		return "", ErrMalformed
	}
	var raw [rawLen]byte
	n, err := enc.Decode(raw[:], []byte(body))
	if err != nil || n != rawLen {
		return "", ErrMalformed
	}
	var want [sha256.Size]byte
	c.tag(want[:tagLen], prefix, raw[:familyLen+secretLen])
	if subtle.ConstantTimeCompare(want[:tagLen], raw[familyLen+secretLen:]) != 1 {
		return "", ErrMalformed
	}
	return body[:FamilyLen], nil
}

func (c *Codec) tag(dst []byte, prefix string, msg []byte) {
	m := c.macs.Get().(*mac)
	m.h.Reset()
	m.in = append(append(m.in[:0], prefix...), msg...)
	m.h.Write(m.in)
	clear(m.in) // it held the token's secret
	copy(dst, m.h.Sum(m.sum[:0])[:len(dst)])
	c.macs.Put(m)
}

// Family returns the family of a token of the kind prefix from its shape
// alone (prefix and length), without checking its tag: for a lookup in a
// cache of tokens that Parse already accepted, where a hit on the token's
// Signature proves it is one of them. Anything else must call Parse.
func Family(prefix, token string) (family string, ok bool) {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != EncodedLen {
		return "", false
	}
	return body[:FamilyLen], true
}

// Digest is the SHA-256 of a whole token string: what the store keeps,
// spelled in hex (Signature), and what the validation cache is keyed by.
type Digest [sha256.Size]byte

// Sum returns the Digest of token, without allocating (a JWT access token
// included).
func Sum(token string) Digest {
	// sha256.Sum256 only reads its argument: the string's bytes, not a copy.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// Signature spells d as the store keeps it: 64 lowercase hex digits.
func (d Digest) Signature() string {
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], d[:])
	return string(out[:])
}

// Signature is what the store keeps instead of a token: the hex SHA-256 of
// the whole token string, Sum(token).Signature().
func Signature(token string) string { return Sum(token).Signature() }
