// Package dpoptest builds DPoP proofs (RFC 9449 section 4.2) with
// go-jose, for tests and example clients.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key pair.
type Key struct {
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
	// Now is the clock of iat. Nil means time.Now.
	Now func() time.Time
}

// NewKey makes a fresh key for alg: "ES256" or "RS256".
func NewKey(alg jose.SignatureAlgorithm) *Key {
	var k crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		panic("dpoptest: unsupported alg " + string(alg))
	}
	if err != nil {
		panic(err)
	}
	return &Key{Alg: alg, Private: k}
}

// JWK is the public key as a JWK.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), Algorithm: string(k.Alg)}
}

// JKT is the key's RFC 7638 thumbprint, base64url.
func (k *Key) JKT() string {
	j := k.JWK()
	tp, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Claims are a proof's claims; zero fields are filled by Proof (jti random,
// iat now) and left out when empty (ath, nonce).
type Claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm,omitempty"`
	HTU   string `json:"htu,omitempty"`
	IAT   int64  `json:"iat,omitempty"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Options change what Sign puts in a proof, to build bad ones.
type Options struct {
	// Typ replaces dpop+jwt; "-" leaves typ out.
	Typ string
	// JWK replaces the public key in the header (a private key, say); nil
	// is the key's public JWK.
	JWK *jose.JSONWebKey
	// NoJWK leaves the jwk out.
	NoJWK bool
}

// Proof is a proof for a request with method to url, presenting token
// ("" for none), with the server's nonce ("" for none).
func (k *Key) Proof(method, url, token, nonce string) string {
	c := Claims{HTM: method, HTU: url, Nonce: nonce}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c.ATH = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return k.Sign(c, Options{})
}

// Sign signs claims (filling jti and iat when zero) with opts.
func (k *Key) Sign(c Claims, opts Options) string {
	if c.JTI == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		c.JTI = hex.EncodeToString(b[:])
	}
	if c.IAT == 0 {
		now := time.Now
		if k.Now != nil {
			now = k.Now
		}
		c.IAT = now().Unix()
	}
	so := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{}}
	switch opts.Typ {
	case "":
		so.ExtraHeaders[jose.HeaderType] = "dpop+jwt"
	case "-":
	default:
		so.ExtraHeaders[jose.HeaderType] = opts.Typ
	}
	if !opts.NoJWK {
		j := k.JWK()
		if opts.JWK != nil {
			j = *opts.JWK
		}
		so.ExtraHeaders["jwk"] = j
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, so)
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Transport adds a fresh proof to every request (for golang.org/x/oauth2's
// token requests, whose http.Client it can be), with the last DPoP-Nonce
// the server sent, retrying once on use_dpop_nonce.
type Transport struct {
	Key  *Key
	Base http.RoundTripper

	mu    sync.Mutex
	nonce string
}

func (t *Transport) lastNonce() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonce
}

func (t *Transport) setNonce(n string) {
	t.mu.Lock()
	t.nonce = n
	t.mu.Unlock()
}

// RoundTrip implements http.RoundTripper. It sends requests without a body
// or with a GetBody, so it can retry.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	for try := 0; ; try++ {
		q := r.Clone(r.Context())
		if try > 0 && r.GetBody != nil {
			b, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			q.Body = b
		}
		u := *r.URL
		u.RawQuery, u.Fragment = "", ""
		nonce := t.lastNonce()
		q.Header.Set("DPoP", t.Key.Proof(r.Method, u.String(), "", nonce))
		resp, err := base.RoundTrip(q)
		if err != nil {
			return nil, err
		}
		n := resp.Header.Get("DPoP-Nonce")
		if n != "" {
			t.setNonce(n)
		}
		if n != "" && n != nonce && try == 0 && resp.StatusCode == http.StatusBadRequest {
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
}

// String is for test messages.
func (k *Key) String() string { return fmt.Sprintf("dpoptest.Key(%s, %s)", k.Alg, k.JKT()) }
