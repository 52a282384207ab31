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
	aead, err := p.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(k.Family+"/"+k.Signature)), nil
}

// openResponse reverses sealResponse.
func (p *Provider) openResponse(k store.Key, sealed []byte) (*TokenResponse, error) {
	aead, err := p.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("ginoauth: sealed answer too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(k.Family+"/"+k.Signature))
	if err != nil {
		return nil, err
	}
	resp := new(TokenResponse)
	if err := json.Unmarshal(plain, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (p *Provider) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(p.sealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
