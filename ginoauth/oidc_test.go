package ginoauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// oidcEnv is a provider with OpenID Connect on, served at its Issuer,
// whose session is the "test_user" cookie (a user ID) with the login
// time in "test_auth" (Unix seconds), and a confidential web client that
// skips consent.
type oidcEnv struct {
	t        *testing.T
	p        *ginoauth.Provider
	st       store.Store
	srv      *httptest.Server
	issuer   string
	clientID string
	secret   string
}

const oidcRedirect = "https://rp.example.com/cb"

func newOIDCEnv(t *testing.T, kind, issuerPath string, mod func(*ginoauth.Config)) *oidcEnv {
	t.Helper()
	e := &oidcEnv{t: t, st: newStore(t, kind)}
	e.srv = httptest.NewUnstartedServer(nil)
	e.issuer = "http://" + e.srv.Listener.Addr().String() + issuerPath
	cfg := ginoauth.Config{
		Store: e.st, SecretKey: []byte("0123456789abcdef0123456789abcdef"), Issuer: e.issuer,
		Scopes: map[string]string{"read": "Read"}, DefaultScopes: []string{"read"},
		OIDC:     ginoauth.OIDCConfig{Enabled: true},
		Sessions: ginoauth.SessionFunc(testSession),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ginoauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	ctx := context.Background()
	u := &store.User{ID: "u-42", Username: "alice", PasswordHash: cheapHash, IsActive: true,
		FirstName: "Alice", LastName: "Liddell", Email: "alice@example.com", EmailVerified: true}
	if err := e.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "rp", ClientType: store.Confidential, SkipAuthorization: true,
		GrantTypes:   []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{oidcRedirect},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clientID, e.secret = app.ClientID, secret
	r := gin.New()
	p.Mount(r.Group(issuerPath))
	e.srv.Config.Handler = r
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func testSession(c *gin.Context) (*ginoauth.Owner, error) {
	id, err := c.Cookie("test_user")
	if err != nil || id == "" {
		return nil, nil
	}
	o := &ginoauth.Owner{ID: id, Username: "alice"}
	if s, err := c.Cookie("test_auth"); err == nil {
		n, _ := strconv.ParseInt(s, 10, 64)
		o.AuthTime = time.Unix(n, 0)
	}
	return o, nil
}

// rp is a relying party as go-oidc and x/oauth2 make one.
type rp struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	conf     oauth2.Config
}

func (e *oidcEnv) rp(ctx context.Context, scopes ...string) *rp {
	e.t.Helper()
	prov, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	return &rp{
		provider: prov,
		verifier: prov.Verifier(&oidc.Config{ClientID: e.clientID}),
		conf: oauth2.Config{ClientID: e.clientID, ClientSecret: e.secret, Endpoint: prov.Endpoint(),
			RedirectURL: oidcRedirect, Scopes: append([]string{oidc.ScopeOpenID}, scopes...)},
	}
}

// authorize runs the authorization request in a browser logged in as
// user (none when empty, login time authAt when not zero) and returns
// the redirect's query (or nil, with the response, when it went
// elsewhere).
func (e *oidcEnv) authorize(authURL, user string, authAt time.Time) (url.Values, *http.Response) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", authURL, nil)
	if user != "" {
		req.AddCookie(&http.Cookie{Name: "test_user", Value: user})
	}
	if !authAt.IsZero() {
		req.AddCookie(&http.Cookie{Name: "test_auth", Value: strconv.FormatInt(authAt.Unix(), 10)})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), oidcRedirect) {
		return nil, res
	}
	return loc.Query(), res
}

type idClaims struct {
	Sub               string `json:"sub"`
	Azp               string `json:"azp"`
	AuthTime          int64  `json:"auth_time"`
	AtHash            string `json:"at_hash"`
	Name              string `json:"name"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
	EmailVerified     bool   `json:"email_verified"`
}

// TestOIDCCodeFlowGoOIDC: go-oidc discovers the provider (with and
// without an issuer path), verifies the id_token of a code flow with PKCE
// and nonce (signature, iss, aud, exp, nonce, at_hash), reads the profile
// and email claims from it and from userinfo, and a refresh gets a fresh
// id_token; with JWT access tokens (RFC 9068) too.
func TestOIDCCodeFlowGoOIDC(t *testing.T) {
	for _, tc := range []struct {
		kind, path, alg string
		jwt             bool
	}{
		{"memory", "", "", false}, {"redis", "", "", false}, {"memory", "/tenant/a", "", false}, {"memory", "", "ES256", false},
		{"redis", "", "", true},
	} {
		t.Run(fmt.Sprint(tc.kind, tc.path, tc.alg, map[bool]string{true: "jwt"}[tc.jwt]), func(t *testing.T) {
			var mod func(*ginoauth.Config)
			if tc.jwt {
				mod = func(c *ginoauth.Config) { c.AccessTokenFormat = store.TokenFormatJWT }
			}
			e := newOIDCEnv(t, tc.kind, tc.path, mod)
			ctx := context.Background()
			if tc.alg != "" {
				_, err := e.p.UpdateApplication(ctx, e.clientID, func(a *store.Application) error {
					a.IDTokenSignedResponseAlg = tc.alg
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			r := e.rp(ctx, "profile", "email")
			verifier := oauth2.GenerateVerifier()
			login := time.Now().Add(-time.Minute).Truncate(time.Second)
			q, res := e.authorize(r.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-123")), "u-42", login)
			if q == nil {
				t.Fatalf("authorize: got %d to %q, want a redirect with a code", res.StatusCode, res.Header.Get("Location"))
			}
			tok, err := r.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if got := strings.HasPrefix(tok.AccessToken, "eyJ"); got != tc.jwt {
				t.Fatalf("access token %.8s...: JWT %v, want %v", tok.AccessToken, got, tc.jwt)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := r.verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if idt.Nonce != "n-123" {
				t.Errorf("nonce: got %q, want n-123", idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			var got idClaims
			if err := idt.Claims(&got); err != nil {
				t.Fatal(err)
			}
			want := idClaims{Sub: "u-42", Azp: e.clientID, AuthTime: login.Unix(), AtHash: got.AtHash, Name: "Alice Liddell",
				GivenName: "Alice", FamilyName: "Liddell", PreferredUsername: "alice", Email: "alice@example.com", EmailVerified: true}
			if got != want {
				t.Errorf("id_token claims:\n got %+v\nwant %+v", got, want)
			}
			if h := jwsHeader(t, raw); tc.alg != "" && h["alg"] != tc.alg || tc.alg == "" && h["alg"] != "RS256" {
				t.Errorf("alg: got %v, want %q (default RS256)", h["alg"], tc.alg)
			}
			ui, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("UserInfo: %v", err)
			}
			var uc idClaims
			if err := ui.Claims(&uc); err != nil {
				t.Fatal(err)
			}
			if wantUI := (idClaims{Sub: "u-42", Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell",
				PreferredUsername: "alice", Email: "alice@example.com", EmailVerified: true}); uc != wantUI {
				t.Errorf("userinfo:\n got %+v\nwant %+v", uc, wantUI)
			}
			tok.Expiry = time.Now().Add(-time.Hour) // force a refresh
			fresh, err := r.conf.TokenSource(ctx, tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			raw2, _ := fresh.Extra("id_token").(string)
			idt2, err := r.verifier.Verify(ctx, raw2)
			if err != nil {
				t.Fatalf("refreshed id_token: %v", err)
			}
			if idt2.Subject != "u-42" || idt2.VerifyAccessToken(fresh.AccessToken) != nil {
				t.Errorf("refreshed id_token: sub %q, at_hash for the new access token: %v", idt2.Subject, idt2.VerifyAccessToken(fresh.AccessToken))
			}
		})
	}
}

func jwsHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("header: %v", err)
	}
	return m
}
