package ginoauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// sealResponse encrypts a token answer (AES-256-GCM under a key derived
// from SecretKey, bound to the refresh token it answers), so the store can
// keep it for the grace period without holding a usable token.
func (p *Provider) sealResponse(k store.Key, resp *TokenResponse) ([]byte, error) {
	plain, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	return p.seal(plain, []byte(k.Family+"/"+k.Signature))
}

// openResponse reverses sealResponse.
func (p *Provider) openResponse(k store.Key, sealed []byte) (*TokenResponse, error) {
	plain, err := p.open(sealed, []byte(k.Family+"/"+k.Signature))
	if err != nil {
		return nil, err
	}
	resp := new(TokenResponse)
	if err := json.Unmarshal(plain, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// seal encrypts plain with AES-256-GCM under the seal key, bound to ad.
func (p *Provider) seal(plain, ad []byte) ([]byte, error) { return sealWith(p.sealKey, plain, ad) }

// open reverses seal.
func (p *Provider) open(sealed, ad []byte) ([]byte, error) { return openWith(p.sealKey, sealed, ad) }

// sealWith encrypts plain with AES-256-GCM under key, bound to ad: a
// random nonce, then the ciphertext.
func sealWith(key, plain, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

// openWith reverses sealWith.
func openWith(key, sealed, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("ginoauth: sealed value too short")
	}
	return aead.Open(nil, sealed[:n], sealed[n:], ad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
