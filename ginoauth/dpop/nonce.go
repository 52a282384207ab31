package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// DefaultNonceLifetime is the length of a nonce's time slot: a nonce is
// accepted in its slot and the next, so for one to two slots.
const DefaultNonceLifetime = 5 * time.Minute

// Nonces makes and checks server nonces (RFC 9449 section 8) without
// state: a nonce is a time slot and an HMAC of it under a key, so every
// instance sharing the key accepts every instance's nonces.
type Nonces struct {
	key  []byte
	slot time.Duration
	now  func() time.Time
}

// NewNonces returns nonces keyed by key (at least 32 bytes, the same on
// every instance; ginoauth derives it from Config.SecretKey), each valid
// for one to two lifetimes (zero means DefaultNonceLifetime). now nil is
// time.Now.
func NewNonces(key []byte, lifetime time.Duration, now func() time.Time) *Nonces {
	if lifetime <= 0 {
		lifetime = DefaultNonceLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: append([]byte(nil), key...), slot: lifetime, now: now}
}

// Fresh returns a nonce for the current time slot.
func (n *Nonces) Fresh() string {
	return n.make(n.slotOf(n.now()))
}

func (n *Nonces) slotOf(t time.Time) uint64 {
	return uint64(t.UnixNano() / int64(n.slot))
}

func (n *Nonces) make(slot uint64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], slot)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("dpop-nonce|"))
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// valid reports whether s is a nonce of the current or the previous slot.
func (n *Nonces) valid(s string, now time.Time) bool {
	if len(s) != 32 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return false
	}
	slot := binary.BigEndian.Uint64(b[:8])
	cur := n.slotOf(now)
	if slot != cur && slot+1 != cur {
		return false
	}
	return hmac.Equal([]byte(n.make(slot)), []byte(s))
}
