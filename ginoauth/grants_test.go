package ginoauth_test

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestCustomGrant: a grant type registered through Config.GrantTypes works as
// the built-in ones do: only for clients that list it, with its own
// parameters, scopes decided by GrantScopes and tokens by IssueTokens.
func TestCustomGrant(t *testing.T) {
	t.Parallel()
	const kind = "urn:example:params:oauth:grant-type:magic-word"
	magic := ginoauth.GrantType{Name: kind, Handle: func(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
		if r.Params["word"] != "please" {
			return nil, oautherr.ErrInvalidGrant.WithDescription("Say the magic word.")
		}
		scopes, err := p.GrantScopes(r.Params["scope"], r.Client)
		if err != nil {
			return nil, err
		}
		return p.IssueTokens(ctx, r.Client, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: scopes})
	}}
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.GrantTypes = []ginoauth.GrantType{magic} })
	app, secret, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{kind},
	})
	if err != nil {
		t.Fatal(err)
	}
	creds := []string{app.ClientID, secret}
	r := e.token(url.Values{"grant_type": {kind}, "word": {"please"}, "scope": {"read"}}, creds)
	ok := wantStatus(t, "custom grant", r, 200)
	if !wantField(t, "custom grant", r, "scope", "read") || !ok {
		t.FailNow()
	}
	w := e.get("/api/whoami", r.str("access_token"))
	ok = wantStatus(t, "its token", w, 200)
	if !wantField(t, "its token", w, "user", "alice") || !ok {
		t.FailNow()
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		creds  []string
		status int
		code   string
	}{
		{"wrong word", url.Values{"grant_type": {kind}, "word": {"no"}}, creds, 400, "invalid_grant"},
		{"bad scope", url.Values{"grant_type": {kind}, "word": {"please"}, "scope": {"nope"}}, creds, 400, "invalid_scope"},
		{"client without the grant", url.Values{"grant_type": {kind}, "word": {"please"}}, []string{e.confID, e.secret}, 400, "unauthorized_client"},
		{"public client", url.Values{"grant_type": {kind}, "word": {"please"}, "client_id": {e.pubID}}, nil, 400, "unauthorized_client"},
	} {
		wantError(t, tc.name, e.token(tc.form, tc.creds), tc.status, tc.code)
	}
	if !slices.Contains(e.p.GrantTypes(), kind) {
		t.Fatalf("GrantTypes() = %v, want it to contain %q", e.p.GrantTypes(), kind)
	}
	if m := e.get("/.well-known/oauth-authorization-server", ""); !slices.Contains(m.body["grant_types_supported"].([]any), any(kind)) {
		t.Fatalf("metadata grant_types_supported = %v, want it to contain %q", m.body["grant_types_supported"], kind)
	}
	// An unregistered grant type cannot be given to an application.
	if _, _, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{"urn:nope"}}); err == nil {
		t.Fatal("CreateApplication with an unregistered grant type: got no error, want one")
	}
}

func TestGrantRegistrationErrors(t *testing.T) {
	t.Parallel()
	h := func(context.Context, *ginoauth.Provider, *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
		return nil, nil
	}
	for name, gs := range map[string][]ginoauth.GrantType{
		"no type":          {{Handle: h}},
		"no handler":       {{Name: "x"}},
		"twice":            {{Name: "x", Handle: h}, {Name: "x", Handle: h}},
		"shadows built-in": {{Name: "password", Handle: h}},
	} {
		if _, err := ginoauth.New(ginoauth.Config{GrantTypes: gs}); err == nil {
			t.Errorf("%s: New: got no error, want one", name)
		}
	}
}
