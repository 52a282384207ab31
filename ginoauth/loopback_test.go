package ginoauth_test

import (
	"context"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestLoopbackPortOnlyForPublicClients: RFC 8252's any-port loopback
// exception is for native (public) clients. A confidential client's
// loopback redirect URI must match exactly: another port is an error page,
// not a redirect (a local process on another port must not get its codes).
func TestLoopbackPortOnlyForPublicClients(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	ctx := context.Background()
	const registered = "http://127.0.0.1:8000/cb"
	web, _, err := ce.p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "Local web", ClientType: store.Confidential,
		GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{registered},
	})
	if err != nil {
		t.Fatal(err)
	}
	native, _, err := ce.p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "Local native", ClientType: store.Public,
		GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{registered},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := ce.browser("u1.alice")
	v := oauth2.GenerateVerifier()
	for _, tc := range []struct {
		what, clientID, redirect string
		want                     int
	}{
		{"confidential, registered port", web.ClientID, registered, 200},
		{"confidential, other port", web.ClientID, "http://127.0.0.1:9999/cb", 400},
		{"confidential, no port", web.ClientID, "http://127.0.0.1/cb", 400},
		{"public, registered port", native.ClientID, registered, 200},
		{"public, other port", native.ClientID, "http://127.0.0.1:9999/cb", 200},
	} {
		c := oauth2.Config{ClientID: tc.clientID, RedirectURL: tc.redirect, Endpoint: oauth2.Endpoint{AuthURL: ce.srv.URL + "/o/authorize/"}}
		pg := fetch(t, alice, "GET", c.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), nil)
		wantPageStatus(t, tc.what, pg, tc.want)
		if pg.location != nil {
			t.Errorf("%s: redirected to %v, want a page", tc.what, pg.location)
		}
	}
}

// TestApprovalPromptParameter: by default a request cannot ask to skip
// consent with approval_prompt=auto (after one consent, any page that can
// send the browser to the authorization endpoint would get a code
// silently); only the server's RequestApprovalPrompt decides, and a
// request's approval_prompt=force is always honoured. With
// AllowApprovalPromptParameter the parameter decides, as in DOT.
func TestApprovalPromptParameter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		allow        bool
		serverPrompt string
		param        string
		wantSkip     bool
	}{
		{"default, auto asked", false, "", "auto", false},
		{"default, nothing asked", false, "", "", false},
		{"server auto, nothing asked", false, "auto", "", true},
		{"server auto, force asked", false, "auto", "force", false},
		{"allowed, auto asked", true, "", "auto", true},
		{"allowed, server auto, force asked", true, "auto", "force", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) {
				c.AllowApprovalPromptParameter = tc.allow
				c.RequestApprovalPrompt = tc.serverPrompt
			})
			conf := ce.oauthConfig()
			alice := ce.browser("u1.alice")
			v := oauth2.GenerateVerifier()
			loc := ce.authorize(t, alice, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
			hc := context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client())
			if _, err := conf.Exchange(hc, loc.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
				t.Fatal(err)
			}
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
			if tc.param != "" {
				opts = append(opts, oauth2.SetAuthURLParam("approval_prompt", tc.param))
			}
			pg := fetch(t, alice, "GET", conf.AuthCodeURL("s", opts...), nil)
			if tc.wantSkip {
				if wantRedirect(t, "second authorization", pg) {
					wantParam(t, "second authorization", pg.location, "error", "")
				}
				return
			}
			wantPageStatus(t, "second authorization (consent page)", pg, 200)
		})
	}
}
