package ginoauth_test

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestIntrospectOthersTokens: a client introspects its own tokens; only a
// resource server (an application whose AllowedScopes list the
// introspection scope explicitly) sees other clients' access tokens, and
// refresh tokens only to their own client. Anything else is
// {"active": false} and nothing more, with client credentials or a bearer
// token alike.
func TestIntrospectOthersTokens(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.Scopes = map[string]string{"read": "", "write": "", "introspection": "Introspect tokens"}
			c.DefaultScopes = []string{"read", "write"}
		})
		ctx := context.Background()
		newClient := func(name string, scopes []string) []string {
			app, secret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
				Name: name, ClientType: store.Confidential,
				GrantTypes: []string{store.GrantClientCredentials}, AllowedScopes: scopes,
			})
			if err != nil {
				t.Fatal(err)
			}
			return []string{app.ClientID, secret}
		}
		conf := []string{e.confID, e.secret} // AllowedScopes empty: every scope, but not a resource server
		other := newClient("other", []string{"read"})
		rs := newClient("resource server", []string{"introspection", "read"})
		user := e.passwordToken("read")
		access, refresh := user.str("access_token"), user.str("refresh_token")
		bearer := func(cred []string) string {
			r := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"introspection"}}, cred)
			if r.status != 200 {
				t.Fatalf("client_credentials with scope introspection: status = %d, want 200 (body %v)", r.status, r.body)
			}
			return r.str("access_token")
		}
		rsBearer, confBearer := bearer(rs), bearer(conf)
		otherAccess := e.token(url.Values{"grant_type": {"client_credentials"}}, other).str("access_token")

		for _, tc := range []struct {
			what   string
			cred   []string
			bearer string
			token  string
			active bool
		}{
			{"own access token", conf, "", access, true},
			{"own refresh token", conf, "", refresh, true},
			{"another client's access token", other, "", access, false},
			{"another client's refresh token", other, "", refresh, false},
			{"resource server, another client's access token", rs, "", access, true},
			{"resource server, another client's refresh token", rs, "", refresh, false},
			{"resource server bearer, another client's access token", nil, rsBearer, access, true},
			{"resource server bearer, another client's refresh token", nil, rsBearer, refresh, false},
			{"bearer with the scope, own access token", nil, confBearer, access, true},
			{"bearer with the scope, own refresh token", nil, confBearer, refresh, true},
			{"bearer with the scope but not a resource server, another client's access token", nil, confBearer, otherAccess, false},
		} {
			r := e.post("/o/introspect/", url.Values{"token": {tc.token}}, tc.cred, tc.bearer)
			if !wantStatus(t, tc.what, r, 200) {
				continue
			}
			if r.body["active"] != tc.active {
				t.Errorf("%s: active = %v, want %v", tc.what, r.body["active"], tc.active)
			}
			if !tc.active && len(r.body) != 1 {
				t.Errorf("%s: %d members, want 1 (body %v)", tc.what, len(r.body), r.body)
			}
			if tc.active && r.str("username") != "alice" && tc.token != otherAccess {
				t.Errorf("%s: username = %q, want %q", tc.what, r.str("username"), "alice")
			}
		}
	})
}

// TestApplicationFormCannotMakeAResourceServer: the self-service form
// neither offers nor accepts the introspection scope, which would let any
// user's application read every client's access tokens; an update through
// the form keeps it on an application an operator gave it to.
func TestApplicationFormCannotMakeAResourceServer(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) {
		c.Scopes = map[string]string{"read": "", "write": "", "introspection": "Introspect tokens"}
		c.DefaultScopes = []string{"read", "write"}
	})
	alice := ce.browser("u1.alice")
	form := fetch(t, alice, "GET", ce.srv.URL+appsPath+"register/", nil)
	wantBody(t, "registration form", form.body, `value="introspection"`, false)
	withIntrospection := func(f url.Values) { f["scope"] = []string{"read", "introspection"} }
	pg := ce.postForm(t, alice, appsPath+"register/", appForm(withIntrospection))
	expect(t, pg.status == 400, "register with scope introspection: status = %d, want 400", pg.status)
	wantBody(t, "register with scope introspection", pg.body, `The form does not offer the scope &#34;introspection&#34;`, true)

	_, id, _ := ce.register(t, alice, appForm(nil))
	pg = ce.postForm(t, alice, appsPath+id+"/update/", appForm(withIntrospection))
	expect(t, pg.status == 400, "update with scope introspection: status = %d, want 400", pg.status)
	if got := ce.app(t, id).AllowedScopes; slices.Contains(got, "introspection") {
		t.Errorf("update with scope introspection: AllowedScopes = %q, want it absent", got)
	}
	// An operator's grant of the scope survives the owner's edit.
	if _, err := ce.p.UpdateApplication(context.Background(), id, func(a *store.Application) error {
		a.AllowedScopes = []string{"read", "introspection"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pg = ce.postForm(t, alice, appsPath+id+"/update/", appForm(func(f url.Values) { f.Set("name", "renamed") }))
	expect(t, pg.status == 303, "update by the owner: status = %d, want 303", pg.status)
	if got := ce.app(t, id).AllowedScopes; !slices.Contains(got, "introspection") {
		t.Errorf("after the owner's update: AllowedScopes = %q, want introspection kept", got)
	}
}
