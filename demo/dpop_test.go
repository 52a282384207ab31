package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
)

// TestDPoPSnippets: a DPoP-bound token (RFC 9449) from the demo server's
// token endpoint creates a snippet with the DPoP scheme and a proof, and
// is refused as a Bearer token (401 invalid_token).
func TestDPoPSnippets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := dpoptest.NewKey(jose.ES256)
	form := url.Values{"grant_type": {"password"}, "username": {f.alice.username}, "password": {f.alice.password}}
	r := f.do(http.MethodPost, tokenPath, map[string]string{
		"Content-Type":  "application/x-www-form-urlencoded",
		"Authorization": basic(f.conf.id, f.conf.secret),
		"DPoP":          key.Proof("POST", f.url+tokenPath, "", ""),
	}, form.Encode()).wantStatus(t, http.StatusOK)
	if tt := r.str(t, "token_type"); tt != "DPoP" {
		t.Fatalf("token_type = %q, want DPoP", tt)
	}
	tok := r.str(t, "access_token")
	body := `{"code":"print(1)\n"}`
	f.do(http.MethodPost, snippetsPath, map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "DPoP " + tok,
		"DPoP":          key.Proof("POST", f.url+snippetsPath, tok, ""),
	}, body).wantStatus(t, http.StatusCreated)
	f.api(http.MethodPost, snippetsPath, tok, body).wantError(t, http.StatusUnauthorized, "invalid_token")
}

// TestDPoPNoncesFlag: with --dpop-nonces (options.DPoPNonces) a token
// request whose proof has no nonce is use_dpop_nonce with a DPoP-Nonce
// header, and the retry with it gets a DPoP-bound token.
func TestDPoPNoncesFlag(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *options) { o.DPoPNonces = true })
	key := dpoptest.NewKey(jose.ES256)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	send := func(nonce string) result {
		return f.do(http.MethodPost, tokenPath, map[string]string{
			"Content-Type":  "application/x-www-form-urlencoded",
			"Authorization": basic(f.conf.id, f.conf.secret),
			"DPoP":          key.Proof("POST", f.url+tokenPath, "", nonce),
		}, form)
	}
	r := send("").wantError(t, http.StatusBadRequest, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	if tt := send(nonce).wantStatus(t, http.StatusOK).str(t, "token_type"); tt != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tt)
	}
}
