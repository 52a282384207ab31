package keyset

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// add generates a key of alg that signs from activeAt, seals it and saves
// it.
func (s *Set) add(ctx context.Context, alg string, activeAt time.Time) (*store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, errors.New("keyset: unsupported algorithm")
	}
	if err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	k := &store.SigningKey{KID: base64.RawURLEncoding.EncodeToString(id), Alg: alg, CreatedAt: s.o.Now().UTC(), ActiveAt: activeAt.UTC()}
	if k.Sealed, err = s.seal(k, priv); err != nil {
		return nil, err
	}
	if err := s.o.Store.SaveSigningKey(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// Rotate adds a new key for each of algs, published now and signing from
// PublishDelay on (at once if no key of its algorithm is in use), retires
// the keys it replaces at that moment, and drops
// keys retired more than Retain ago. It returns the new keys' KIDs.
func (s *Set) Rotate(ctx context.Context, algs ...string) ([]string, error) {
	keys, err := s.load(ctx, true)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	var kids []string
	for _, alg := range algs {
		// With no key of alg in use, nothing needs to learn the new one
		// before it signs.
		activeAt := now
		for _, old := range keys {
			if old.Alg == alg && old.RetiredAt.IsZero() {
				activeAt = now.Add(s.o.PublishDelay)
			}
		}
		k, err := s.add(ctx, alg, activeAt)
		if err != nil {
			return kids, err
		}
		kids = append(kids, k.KID)
		for _, old := range keys {
			if old.Alg == alg && old.RetiredAt.IsZero() {
				r := *old
				r.RetiredAt = activeAt.UTC()
				if err := s.o.Store.SaveSigningKey(ctx, &r); err != nil {
					return kids, err
				}
			}
		}
	}
	for _, old := range keys {
		if !old.RetiredAt.IsZero() && !now.Before(old.RetiredAt.Add(s.o.Retain)) {
			if err := s.o.Store.DeleteSigningKey(ctx, old.KID); err != nil {
				return kids, err
			}
		}
	}
	_, err = s.load(ctx, true)
	return kids, err
}

// seal encrypts priv (PKCS #8) with AES-GCM; the KID and algorithm are
// the additional data, so a sealed key cannot be moved to another record.
func (s *Set) seal(k *store.SigningKey, priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, der, []byte(k.KID+"\x00"+k.Alg)), nil
}

// unseal returns k's private key, decrypting it once per process.
func (s *Set) unseal(k *store.SigningKey) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if priv, ok := s.private[k.KID]; ok {
		return priv, nil
	}
	n := s.aead.NonceSize()
	if len(k.Sealed) < n {
		return nil, errors.New("keyset: sealed key too short")
	}
	der, err := s.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.KID+"\x00"+k.Alg))
	if err != nil {
		return nil, errors.New("keyset: a signing key does not unseal (another SecretKey?)")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, errors.New("keyset: sealed key is not a signer")
	}
	s.private[k.KID] = priv
	return priv, nil
}
