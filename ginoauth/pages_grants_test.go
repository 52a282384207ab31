package ginoauth_test

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestApplicationFormOffersOnlyItsGrantTypes: the self-service form stores
// only the grant types it offers (authorization code, password, client
// credentials). A posted refresh_token, or a custom grant the server
// registers (and so CheckApplication alone accepts), is refused with a
// message, at registration and at update, and nothing is stored.
func TestApplicationFormOffersOnlyItsGrantTypes(t *testing.T) {
	t.Parallel()
	const custom = "urn:example:custom"
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) {
		c.GrantTypes = []ginoauth.GrantType{{Name: custom, Handle: func(context.Context, *ginoauth.Provider, *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
			return nil, nil
		}}}
	})
	alice := ce.browser("u1.alice")
	_, id, _ := ce.register(t, alice, appForm(nil))
	for _, extra := range []string{store.GrantRefreshToken, custom} {
		with := func(f url.Values) { f["grant_type"] = []string{"authorization_code", extra} }
		want := `The form does not offer the grant type &#34;` + extra + `&#34;`
		pg := ce.postForm(t, alice, appsPath+"register/", appForm(with))
		expect(t, pg.status == 400, "register with grant type %s: status = %d, want 400", extra, pg.status)
		wantBody(t, "register with grant type "+extra, pg.body, want, true)

		pg = ce.postForm(t, alice, appsPath+id+"/update/", appForm(with))
		expect(t, pg.status == 400, "update with grant type %s: status = %d, want 400", extra, pg.status)
		wantBody(t, "update with grant type "+extra, pg.body, want, true)
		if got := ce.app(t, id).GrantTypes; slices.Contains(got, extra) {
			t.Errorf("update with grant type %s: stored grant types %q, want it absent", extra, got)
		}
	}
	apps, err := ce.p.ListApplications(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 {
		t.Errorf("after refused registrations: %d applications, want 1", len(apps))
	}
}
