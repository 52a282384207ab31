package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
)

type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplay) FirstUse(_ context.Context, key string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[key] {
		return false, nil
	}
	m.seen[key] = true
	return true, nil
}

const htu = "https://api.example.com/orders"

func TestVerify(t *testing.T) {
	es := dpoptest.NewKey(jose.ES256)
	rs := dpoptest.NewKey(jose.RS256)
	now := time.Now()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privJWK := jose.JSONWebKey{Key: priv}
	req := dpop.Request{Method: "GET", URL: htu + "?page=2", AccessToken: "goat_abc"}
	ath := dpop.AccessTokenHash("goat_abc")
	tests := []struct {
		name     string
		headers  []string
		req      dpop.Request
		wantCode string // "" accepted
		wantJKT  string
	}{
		{"ES256", []string{es.Proof("GET", htu, "goat_abc", "")}, req, "", es.JKT()},
		{"RS256", []string{rs.Proof("GET", htu, "goat_abc", "")}, req, "", rs.JKT()},
		{"htu normalised", []string{es.Proof("GET", "HTTPS://API.example.com:443/%6Frders", "goat_abc", "")}, req, "", es.JKT()},
		{"no token no ath", []string{es.Proof("POST", htu, "", "")}, dpop.Request{Method: "POST", URL: htu}, "", es.JKT()},
		{"none", nil, req, dpop.CodeInvalidProof, ""},
		{"two headers", []string{es.Proof("GET", htu, "goat_abc", ""), es.Proof("GET", htu, "goat_abc", "")}, req, dpop.CodeInvalidProof, ""},
		{"wrong htm", []string{es.Proof("POST", htu, "goat_abc", "")}, req, dpop.CodeInvalidProof, ""},
		{"wrong htu", []string{es.Proof("GET", "https://api.example.com/other", "goat_abc", "")}, req, dpop.CodeInvalidProof, ""},
		{"wrong htu host", []string{es.Proof("GET", "https://evil.example.com/orders", "goat_abc", "")}, req, dpop.CodeInvalidProof, ""},
		{"missing ath", []string{es.Proof("GET", htu, "", "")}, req, dpop.CodeInvalidProof, ""},
		{"bad ath", []string{es.Proof("GET", htu, "goat_other", "")}, req, dpop.CodeInvalidProof, ""},
		{"ath without token", []string{es.Proof("POST", htu, "goat_abc", "")}, dpop.Request{Method: "POST", URL: htu}, dpop.CodeInvalidProof, ""},
		{"stale iat", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath, IAT: now.Add(-2 * time.Minute).Unix()}, dpoptest.Options{})}, req, dpop.CodeInvalidProof, ""},
		{"future iat", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath, IAT: now.Add(time.Minute).Unix()}, dpoptest.Options{})}, req, dpop.CodeInvalidProof, ""},
		{"typ JWT", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{Typ: "JWT"})}, req, dpop.CodeInvalidProof, ""},
		{"no typ", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{Typ: "-"})}, req, dpop.CodeInvalidProof, ""},
		{"no jwk", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{NoJWK: true})}, req, dpop.CodeInvalidProof, ""},
		{"private jwk", []string{(&dpoptest.Key{Alg: jose.ES256, Private: priv}).Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{JWK: &privJWK})}, req, dpop.CodeInvalidProof, ""},
		{"another key's jwk", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{JWK: ptr(rs.JWK())})}, req, dpop.CodeInvalidProof, ""},
		{"alg none", []string{unsigned(`{"typ":"dpop+jwt","alg":"none"}`, htu, ath)}, req, dpop.CodeInvalidProof, ""},
		{"alg HS256", []string{hs256Proof(t, htu, ath)}, req, dpop.CodeInvalidProof, ""},
		{"oversize", []string{es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu, ATH: ath, Nonce: strings.Repeat("n", dpop.MaxProofSize)}, dpoptest.Options{})}, req, dpop.CodeInvalidProof, ""},
		{"garbage", []string{"not.a.jwt"}, req, dpop.CodeInvalidProof, ""},
		{"no jti", []string{es.Sign(dpoptest.Claims{JTI: "", HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{})}, req, "", es.JKT()}, // Sign fills jti
		{"long jti", []string{es.Sign(dpoptest.Claims{JTI: strings.Repeat("j", 300), HTM: "GET", HTU: htu, ATH: ath}, dpoptest.Options{})}, req, dpop.CodeInvalidProof, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := dpop.New(dpop.Config{Replay: &memReplay{}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tt.headers, tt.req)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: got %v, want success", err)
				}
				if p.JKT != tt.wantJKT {
					t.Errorf("JKT: got %q, want %q", p.JKT, tt.wantJKT)
				}
				return
			}
			e, ok := dpop.IsError(err)
			if !ok || e.Code != tt.wantCode {
				t.Fatalf("Verify: got %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func unsigned(header, htu, ath string) string {
	enc := func(s string) string { return b64(s) }
	return enc(header) + "." + enc(`{"jti":"x","htm":"GET","htu":"`+htu+`","iat":`+itoa(time.Now().Unix())+`,"ath":"`+ath+`"}`) + "."
}

func hs256Proof(t *testing.T, htu, ath string) string {
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{
		jose.HeaderType: "dpop+jwt", "jwk": jose.JSONWebKey{Key: key}}})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(`{"jti":"x","htm":"GET","htu":"` + htu + `","iat":` + itoa(time.Now().Unix()) + `,"ath":"` + ath + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestReplay(t *testing.T) {
	es := dpoptest.NewKey(jose.ES256)
	v, _ := dpop.New(dpop.Config{Replay: &memReplay{}})
	proof := es.Proof("GET", htu, "", "")
	req := dpop.Request{Method: "GET", URL: htu}
	if _, err := v.Verify(context.Background(), []string{proof}, req); err != nil {
		t.Fatalf("first use: got %v, want success", err)
	}
	_, err := v.Verify(context.Background(), []string{proof}, req)
	if e, ok := dpop.IsError(err); !ok || e.Code != dpop.CodeInvalidProof {
		t.Fatalf("replay: got %v, want invalid_dpop_proof", err)
	}
}

func TestNonces(t *testing.T) {
	es := dpoptest.NewKey(jose.ES256)
	now := time.Now().Truncate(time.Minute).Add(time.Second) // slots are minutes
	clock := func() time.Time { return now }
	es.Now = clock
	n := dpop.NewNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute, clock)
	other := dpop.NewNonces([]byte("another key, 32 bytes long......"), time.Minute, clock)
	v, _ := dpop.New(dpop.Config{Nonces: n, Now: clock})
	req := dpop.Request{Method: "GET", URL: htu}
	_, err := v.Verify(context.Background(), []string{es.Proof("GET", htu, "", "")}, req)
	e, ok := dpop.IsError(err)
	if !ok || e.Code != dpop.CodeUseNonce || e.Nonce == "" {
		t.Fatalf("no nonce: got %v, want use_dpop_nonce with a nonce", err)
	}
	if _, err := v.Verify(context.Background(), []string{es.Proof("GET", htu, "", e.Nonce)}, req); err != nil {
		t.Fatalf("with the nonce: got %v, want success", err)
	}
	for name, nonce := range map[string]string{"other key": other.Fresh(), "garbage": "abc", "flipped": flip(n.Fresh())} {
		_, err := v.Verify(context.Background(), []string{es.Proof("GET", htu, "", nonce)}, req)
		if e, ok := dpop.IsError(err); !ok || e.Code != dpop.CodeUseNonce {
			t.Errorf("%s: got %v, want use_dpop_nonce", name, err)
		}
	}
	old := n.Fresh()
	now = now.Add(90 * time.Second) // next slot: still accepted
	if _, err := v.Verify(context.Background(), []string{es.Proof("GET", htu, "", old)}, req); err != nil {
		t.Errorf("previous slot's nonce: got %v, want success", err)
	}
	now = now.Add(2 * time.Minute)
	_, err = v.Verify(context.Background(), []string{es.Proof("GET", htu, "", old)}, req)
	if e, ok := dpop.IsError(err); !ok || e.Code != dpop.CodeUseNonce {
		t.Errorf("stale nonce: got %v, want use_dpop_nonce", err)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

func TestNewRefusesSymmetric(t *testing.T) {
	for _, alg := range []string{"HS256", "none", "XX"} {
		if _, err := dpop.New(dpop.Config{Algs: []string{alg}}); err == nil {
			t.Errorf("New(%s): got nil error, want one", alg)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://A.example.com/x", "https://a.example.com/x"},
		{"https://a.example.com:443/x?q#f", "https://a.example.com/x"},
		{"http://a.example.com:80", "http://a.example.com/"},
		{"http://a.example.com:8080/%7euser/%2f", "http://a.example.com:8080/~user/%2F"},
		{"ftp://a/x", ""},
		{"/relative", ""},
		{"https://a/%zz", ""},
	}
	for _, tt := range tests {
		got, ok := dpop.NormalizeURL(tt.in)
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("NormalizeURL(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	es := dpoptest.NewKey(jose.ES256)
	f.Add(es.Proof("GET", htu, "tok", ""), "tok")
	f.Add(es.Sign(dpoptest.Claims{HTM: "GET", HTU: htu}, dpoptest.Options{Typ: "JWT"}), "")
	f.Add(unsigned(`{"typ":"dpop+jwt","alg":"none"}`, htu, ""), "")
	f.Add("a.b.c", "")
	f.Add("", "x")
	v, _ := dpop.New(dpop.Config{})
	f.Fuzz(func(t *testing.T, proof, token string) {
		p, err := v.Verify(context.Background(), []string{proof}, dpop.Request{Method: "GET", URL: htu, AccessToken: token})
		if err == nil && p.JKT == "" {
			t.Fatal("accepted proof without a jkt")
		}
		if err != nil {
			if _, ok := dpop.IsError(err); !ok {
				t.Fatalf("non-DPoP error %v without a replay checker", err)
			}
		}
	})
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{htu, "HTTP://x:80/%7e", "https://a/%zz", "", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := dpop.NormalizeURL(s)
		if !ok {
			return
		}
		n2, ok2 := dpop.NormalizeURL(n)
		if !ok2 || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, n, n2, ok2)
		}
	})
}
