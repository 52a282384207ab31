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
