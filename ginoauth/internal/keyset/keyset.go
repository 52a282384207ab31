// Package keyset keeps the provider's signing keys (OpenID Connect Core
// section 10.1): it signs JWTs with the current key of an algorithm,
// publishes the set as a JWK Set (RFC 7517 section 5) and verifies tokens
// it signed. The keys live in a store.SigningKeys shared by every
// instance, their private halves sealed with AES-GCM under a key derived
// from the provider's secret; each instance caches the set for a short
// time and reloads it early on an unknown kid.
//
// Rotation (Rotate) adds a key that is published at once but signs only
// from ActiveAt, PublishDelay later, when every instance's cache and every
// relying party that refreshes its JWKS as often has seen it; the keys it
// replaces stop signing then and stay published for Retain more, the
// lifetime of the longest token they may have signed.
package keyset

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/go-jose/go-jose/v4"
)

// Algorithms the set signs with (RFC 7518 section 3.1).
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Supported reports whether alg is an algorithm the set signs with.
func Supported(alg string) bool { return alg == RS256 || alg == ES256 }

// Errors of Verify. Any of them means the token must be refused.
var (
	ErrMalformed  = errors.New("keyset: malformed or unsigned token")
	ErrUnknownKey = errors.New("keyset: unknown key")
	ErrSignature  = errors.New("keyset: bad signature")
)

// Options configure a Set.
type Options struct {
	Store store.SigningKeys
	// Secret is the provider's secret key; the sealing key is derived
	// from it with HKDF-SHA256 (RFC 5869).
	Secret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheTTL is how long an instance trusts its copy of the set;
	// default one minute.
	CacheTTL time.Duration
	// PublishDelay is how long a rotated-in key is published before it
	// signs; default twice CacheTTL.
	PublishDelay time.Duration
	// Retain is how long a retired key stays published: at least the
	// lifetime of any token it signs. Required.
	Retain time.Duration
}

// Set is the shared signing key set, as one instance sees it. It is safe
// for concurrent use.
type Set struct {
	o    Options
	aead cipher.AEAD

	mu       sync.Mutex
	keys     []*store.SigningKey
	loadedAt time.Time
	private  map[string]crypto.Signer // unsealed keys by KID
}

// New returns a Set on o.Store.
func New(o Options) (*Set, error) {
	if o.Store == nil || len(o.Secret) == 0 || o.Retain <= 0 {
		return nil, errors.New("keyset: Store, Secret and Retain are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Minute
	}
	if o.PublishDelay <= 0 {
		o.PublishDelay = 2 * o.CacheTTL
	}
	k, err := hkdf.Key(sha256.New, o.Secret, nil, "ginoauth oidc signing key seal", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Set{o: o, aead: aead, private: make(map[string]crypto.Signer)}, nil
}

// load returns the cached set, reloading it from the store when it is
// older than CacheTTL or force is set.
func (s *Set) load(ctx context.Context, force bool) ([]*store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	if s.keys != nil && !force && now.Sub(s.loadedAt) < s.o.CacheTTL {
		return s.keys, nil
	}
	keys, err := s.o.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	s.keys, s.loadedAt = keys, now
	return keys, nil
}

// current picks the signing key of alg at now: the one active and not
// retired with the latest ActiveAt (the earliest created, then the
// smallest KID, among equals, so instances that raced to create a first
// key agree).
func current(keys []*store.SigningKey, alg string, now time.Time) *store.SigningKey {
	var best *store.SigningKey
	for _, k := range keys {
		if k.Alg != alg || now.Before(k.ActiveAt) || (!k.RetiredAt.IsZero() && !now.Before(k.RetiredAt)) {
			continue
		}
		if best == nil || k.ActiveAt.After(best.ActiveAt) ||
			(k.ActiveAt.Equal(best.ActiveAt) && (k.CreatedAt.Before(best.CreatedAt) ||
				(k.CreatedAt.Equal(best.CreatedAt) && k.KID < best.KID))) {
			best = k
		}
	}
	return best
}

// published reports whether k is in the published set at now.
func (s *Set) published(k *store.SigningKey, now time.Time) bool {
	return Supported(k.Alg) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt.Add(s.o.Retain)))
}

// signer returns the current key of alg, creating the set's first key of
// alg, active at once, when there is none.
func (s *Set) signer(ctx context.Context, alg string) (*store.SigningKey, crypto.Signer, error) {
	if !Supported(alg) {
		return nil, nil, fmt.Errorf("keyset: unsupported algorithm %q", alg)
	}
	keys, err := s.load(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	k := current(keys, alg, s.o.Now())
	if k == nil {
		// No key of alg yet: nothing was signed with alg, so a first key
		// needs no publication delay.
		if _, err := s.add(ctx, alg, s.o.Now()); err != nil {
			return nil, nil, err
		}
		if keys, err = s.load(ctx, true); err != nil {
			return nil, nil, err
		}
		if k = current(keys, alg, s.o.Now()); k == nil {
			return nil, nil, errors.New("keyset: no signing key after creating one")
		}
	}
	priv, err := s.unseal(k)
	if err != nil {
		return nil, nil, err
	}
	return k, priv, nil
}

// Sign signs payload (a JWT claims set) with the current key of alg, as a
// compact JWS (RFC 7515 section 7.1) with header typ, when not empty.
func (s *Set) Sign(ctx context.Context, alg, typ string, payload []byte) (string, error) {
	k, priv, err := s.signer(ctx, alg)
	if err != nil {
		return "", err
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: priv, KeyID: k.KID, Algorithm: alg},
	}, opts)
	if err != nil {
		return "", err
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// JWKS returns the published public keys (RFC 7517 section 5).
func (s *Set) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := s.load(ctx, false)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	now := s.o.Now()
	sorted := slices.Clone(keys)
	// The newest first: keys about to sign, then the signing ones.
	slices.SortFunc(sorted, func(a, b *store.SigningKey) int {
		if c := b.ActiveAt.Compare(a.ActiveAt); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range sorted {
		if !s.published(k, now) {
			continue
		}
		priv, err := s.unseal(k)
		if err != nil {
			return jose.JSONWebKeySet{}, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: priv.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	}
	return set, nil
}
