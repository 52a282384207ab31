package ginoauth_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestApplicationPagesClientMetadata: the registration pages go through
// CheckApplication (one sentence per problem, not one from the pages and
// one from the provider), and the form keeps the client metadata it does
// not offer: a private_key_jwt client edited on the form gets no secret,
// and one made public takes the method "none".
func TestApplicationPagesClientMetadata(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		alice := ce.browser("u1.alice")
		jwks := testJWKS(t, false)
		app, secret, err := ce.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			Name: "Signer", ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example.com/cb"}, UserID: "u1",
			TokenEndpointAuthMethod: store.AuthPrivateKeyJWT, JWKS: []byte(jwks), IDTokenSignedResponseAlg: store.AlgES256,
		})
		if err != nil || secret != "" {
			t.Fatalf("CreateApplication: secret %q, error %v; want no secret", secret, err)
		}
		edit := appsPath + app.ClientID + "/update/"

		pg := ce.postForm(t, alice, edit, appForm(func(f url.Values) { f.Set("name", "two\nlines") }))
		if got := strings.Count(pg.body, "plain text on one line"); pg.status != 400 || got != 1 {
			t.Errorf("a name on two lines: status %d, %d sentences about it; want 400 and 1", pg.status, got)
		}

		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) { f.Set("name", "Signer 2") }))
		a := ce.app(t, app.ClientID)
		if pg.status != 303 || a.AuthMethod() != store.AuthPrivateKeyJWT || a.SecretHash != "" || string(a.JWKS) != jwks || a.IDTokenAlg() != store.AlgES256 {
			t.Errorf("form update of a private_key_jwt client: status %d, method %q, secret hash %q, jwks kept %v, alg %q; want 303, private_key_jwt, none, true, ES256",
				pg.status, a.AuthMethod(), a.SecretHash, string(a.JWKS) == jwks, a.IDTokenAlg())
		}

		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) { f.Set("client_type", "public") }))
		a = ce.app(t, app.ClientID)
		if pg.status != 303 || a.ClientType != store.Public || a.AuthMethod() != store.AuthNone {
			t.Errorf("made public on the form: status %d, type %q, method %q; want 303, public, none (body %s)", pg.status, a.ClientType, a.AuthMethod(), pg.body)
		}
	})
}
