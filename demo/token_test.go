package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestTokenGrants gets tokens with the password and client_credentials
// grants in every supported request shape, and uses them.
func TestTokenGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A client id with characters that Basic auth must percent-encode.
	odd := f.newClient("demo:app+1/ü x", store.Confidential, store.GrantPassword, store.GrantClientCredentials)
	public := f.newClient("", store.Public, store.GrantPassword)

	type shape struct {
		json  bool
		basic *clientCreds // nil: client_id (and client_secret) in the body
	}
	tests := []struct {
		name   string
		grant  string
		client clientCreds
		shape  shape
	}{
		{"password, form body, Basic auth", "password", f.conf, shape{basic: &f.conf}},
		{"password, form body, client credentials in the body", "password", f.conf, shape{}},
		{"password, JSON body, Basic auth", "password", f.conf, shape{json: true, basic: &f.conf}},
		{"password, JSON body, client credentials in the body", "password", f.conf, shape{json: true}},
		{"password, Basic with a percent-encoded client id", "password", odd, shape{basic: &odd}},
		{"password, percent-encoded client id in the body", "password", odd, shape{}},
		{"password, public client with client_id only", "password", public, shape{}},
		{"password, public client with client_id only, JSON", "password", public, shape{json: true}},
		{"client_credentials, form body, Basic auth", "client_credentials", f.conf, shape{basic: &f.conf}},
		{"client_credentials, form body, client credentials in the body", "client_credentials", f.conf, shape{}},
		{"client_credentials, JSON body, Basic auth", "client_credentials", f.conf, shape{json: true, basic: &f.conf}},
		{"client_credentials, JSON body, client credentials in the body", "client_credentials", f.conf, shape{json: true}},
		{"client_credentials, Basic with a percent-encoded client id", "client_credentials", odd, shape{basic: &odd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params := map[string]string{"grant_type": tt.grant}
			if tt.grant == "password" {
				params["username"], params["password"] = f.alice.username, f.alice.password
			}
			hdr := map[string]string{}
			if tt.shape.basic != nil {
				hdr["Authorization"] = basic(tt.shape.basic.id, tt.shape.basic.secret)
			} else {
				params["client_id"] = tt.client.id
				if tt.client.secret != "" {
					params["client_secret"] = tt.client.secret
				}
			}
			var body string
			if tt.shape.json {
				hdr["Content-Type"] = "application/json"
				b, _ := json.Marshal(params)
				body = string(b)
			} else {
				hdr["Content-Type"] = "application/x-www-form-urlencoded"
				form := url.Values{}
				for k, v := range params {
					form.Set(k, v)
				}
				body = form.Encode()
			}
			tk := f.do(http.MethodPost, tokenPath, hdr, body).wantTokens(t)
			if tk.scope != "read write" {
				t.Errorf("scope = %q, want the default %q", tk.scope, "read write")
			}
			if got, want := tk.refresh != "", tt.grant == "password"; got != want {
				t.Errorf("refresh token present = %v, want %v (none for client_credentials, RFC 6749 4.4.3)", got, want)
			}

			f.api("GET", snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)
			post := f.api("POST", snippetsPath, tk.access, `{"code":"print(1)"}`)
			if tt.grant == "password" {
				post.wantStatus(t, http.StatusCreated)
				if got := post.str(t, "owner"); got != f.alice.username {
					t.Errorf("owner = %q, want %q", got, f.alice.username)
				}
			} else {
				// No user behind the token: it may read, not write.
				post.wantError(t, http.StatusForbidden, "permission_denied")
			}
		})
	}
}

// TestTokenEndpointErrors checks every error of RFC 6749 section 5.2: the
// status, the JSON error code and Cache-Control: no-store.
func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	passwordOnly := f.newClient("", store.Confidential, store.GrantPassword)
	ccOnly := f.newClient("", store.Confidential, store.GrantClientCredentials)
	public := f.newClient("", store.Public, store.GrantPassword)
	good := f.passwordToken(f.conf, f.alice, "")

	pw := func(extra ...string) string {
		form := url.Values{"grant_type": {"password"}, "username": {f.alice.username}, "password": {f.alice.password}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return form.Encode()
	}
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		auth        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"missing grant_type", basic(f.conf.id, f.conf.secret), form, "username=alice&password=x", 400, "invalid_request"},
		{"repeated grant_type", basic(f.conf.id, f.conf.secret), form, "grant_type=password&grant_type=password&" + pw()[len("grant_type=password&"):], 400, "invalid_request"},
		{"repeated username", basic(f.conf.id, f.conf.secret), form, pw() + "&username=bob", 400, "invalid_request"},
		{"password grant without password", basic(f.conf.id, f.conf.secret), form, "grant_type=password&username=alice", 400, "invalid_request"},
		{"refresh grant without refresh_token", basic(f.conf.id, f.conf.secret), form, "grant_type=refresh_token", 400, "invalid_request"},
		{"Basic and client_secret both", basic(f.conf.id, f.conf.secret), form, pw("client_secret", f.conf.secret), 400, "invalid_request"},
		{"unsupported content type", basic(f.conf.id, f.conf.secret), "text/plain", pw(), 400, "invalid_request"},
		{"JSON body that is not an object of strings", basic(f.conf.id, f.conf.secret), "application/json", `{"grant_type":["password"]}`, 400, "invalid_request"},
		{"no client authentication", "", form, pw(), 401, "invalid_client"},
		{"unknown client", basic("no-such-client", "x"), form, pw(), 401, "invalid_client"},
		{"wrong client secret", basic(f.conf.id, "wrong"), form, pw(), 401, "invalid_client"},
		{"confidential client without its secret", "", form, pw("client_id", f.conf.id), 401, "invalid_client"},
		{"public client sending a secret", "", form, pw("client_id", public.id, "client_secret", "x"), 401, "invalid_client"},
		{"bad password", basic(f.conf.id, f.conf.secret), form, pw("password", "wrong"), 400, "invalid_grant"},
		{"unknown user", basic(f.conf.id, f.conf.secret), form, pw("username", "nobody"), 400, "invalid_grant"},
		{"bad refresh token", basic(f.conf.id, f.conf.secret), form, "grant_type=refresh_token&refresh_token=gort_nonsense", 400, "invalid_grant"},
		{"access token used as refresh token", basic(f.conf.id, f.conf.secret), form, "grant_type=refresh_token&refresh_token=" + good.access, 400, "invalid_grant"},
		{"client_credentials by a password-only client", basic(passwordOnly.id, passwordOnly.secret), form, "grant_type=client_credentials", 400, "unauthorized_client"},
		{"password by a client_credentials-only client", basic(ccOnly.id, ccOnly.secret), form, pw(), 400, "unauthorized_client"},
		{"client_credentials by a public client", "", form, "grant_type=client_credentials&client_id=" + url.QueryEscape(public.id), 400, "unauthorized_client"},
		{"unknown grant type", basic(f.conf.id, f.conf.secret), form, "grant_type=magic", 400, "unsupported_grant_type"},
		{"device code grant by a client without it", basic(f.conf.id, f.conf.secret), form, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", 400, "unauthorized_client"},
		{"unknown scope", basic(f.conf.id, f.conf.secret), form, pw("scope", "read admin"), 400, "invalid_scope"},
		{"unknown scope, client_credentials", basic(f.conf.id, f.conf.secret), form, "grant_type=client_credentials&scope=admin", 400, "invalid_scope"},
		{"malformed scope", basic(f.conf.id, f.conf.secret), form, pw("scope", "read\"write"), 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{"Content-Type": tt.contentType}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			r := f.do(http.MethodPost, tokenPath, hdr, tt.body).wantError(t, tt.status, tt.code)
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if r.str(t, "access_token") != "" {
				t.Error("an error answer carries an access token")
			}
			if tt.status == http.StatusUnauthorized {
				if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Basic ") {
					t.Errorf("WWW-Authenticate = %q, want a Basic challenge (RFC 6749 5.2)", h)
				}
			}
		})
	}

	t.Run("GET is not allowed", func(t *testing.T) {
		t.Parallel()
		r := f.do(http.MethodGet, tokenPath, nil, "")
		r.wantStatus(t, http.StatusMethodNotAllowed)
	})
}

// TestRefreshRotation: a refresh token works once; the old access token
// dies with it; only the client it was issued to may use it.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.newClient("", store.Confidential, store.GrantPassword)

	first := f.passwordToken(f.conf, f.alice, "")
	if first.refresh == "" {
		t.Fatal("password grant gave no refresh token")
	}
	f.api("GET", snippetsPath, first.access, "").wantStatus(t, http.StatusOK)

	// Another client may not use it, and trying does not consume it.
	f.refresh(other, first.refresh).wantError(t, http.StatusBadRequest, "invalid_grant")

	second := f.refresh(f.conf, first.refresh).wantTokens(t)
	if second.access == first.access || second.refresh == "" || second.refresh == first.refresh {
		t.Fatalf("refresh did not rotate: %+v -> %+v", first, second)
	}
	if second.scope != first.scope {
		t.Errorf("refreshed scope = %q, want %q", second.scope, first.scope)
	}

	// The old pair is dead, the new one works.
	r := f.api("GET", snippetsPath, first.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", h)
	}
	f.api("GET", snippetsPath, second.access, "").wantStatus(t, http.StatusOK)

	// The new refresh token: not for another client.
	f.refresh(other, second.refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
	third := f.refresh(f.conf, second.refresh).wantTokens(t)
	f.api("GET", snippetsPath, second.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	f.api("GET", snippetsPath, third.access, "").wantStatus(t, http.StatusOK)

	// Narrowing the scope on refresh is allowed, widening it is not.
	narrow := f.tokenForm(basic(f.conf.id, f.conf.secret), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {third.refresh}, "scope": {"read"},
	}).wantTokens(t)
	if narrow.scope != "read" {
		t.Errorf("narrowed scope = %q, want read", narrow.scope)
	}
	f.api("POST", snippetsPath, narrow.access, `{"code":"x"}`).wantError(t, http.StatusForbidden, "insufficient_scope")
	f.tokenForm(basic(f.conf.id, f.conf.secret), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {narrow.refresh}, "scope": {"read write"},
	}).wantError(t, http.StatusBadRequest, "invalid_scope")

	// Reuse of a rotated refresh token is refused and revokes the whole
	// grant (REFRESH_TOKEN_REUSE_PROTECTION, on by default): the live pair
	// stops working too.
	f.api("GET", snippetsPath, narrow.access, "").wantStatus(t, http.StatusOK)
	f.refresh(f.conf, first.refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
	f.api("GET", snippetsPath, narrow.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	f.refresh(f.conf, narrow.refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
}

// TestConcurrentRefresh: of 20 concurrent refreshes of one token exactly
// one succeeds (and the others, being reuses, revoke the grant).
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.passwordToken(f.conf, f.alice, "")

	const n = 20
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = f.refresh(f.conf, tk.refresh)
		})
	}
	close(start)
	wg.Wait()

	var winners []tokens
	for _, r := range results {
		switch r.status {
		case http.StatusOK:
			winners = append(winners, r.wantTokens(t))
		case http.StatusBadRequest:
			if code := r.errCode(t); code != "invalid_grant" {
				t.Errorf("a losing refresh answered %q, want invalid_grant", code)
			}
		default:
			t.Errorf("a refresh answered %d: %s", r.status, r.body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", len(winners), n)
	}
	f.api("GET", snippetsPath, tk.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	// The 19 others presented a rotated token: with reuse protection (the
	// default) that revokes the grant, the winner's pair included. A client
	// that retries concurrently wants RefreshTokenGracePeriod.
	f.api("GET", snippetsPath, winners[0].access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	f.refresh(f.conf, winners[0].refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
}

// TestClientTypes: a public client authenticates with its id alone and
// may not use client_credentials; a confidential client needs its secret.
func TestClientTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	public := f.newClient("", store.Public, store.GrantPassword)
	if public.secret != "" {
		t.Fatalf("a public client got a secret")
	}

	t.Run("public client: password grant and refresh with client_id only", func(t *testing.T) {
		t.Parallel()
		tk := f.tokenForm("", url.Values{
			"grant_type": {"password"}, "client_id": {public.id},
			"username": {f.alice.username}, "password": {f.alice.password},
		}).wantTokens(t)
		f.api("GET", snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)
		next := f.tokenForm("", url.Values{
			"grant_type": {"refresh_token"}, "client_id": {public.id}, "refresh_token": {tk.refresh},
		}).wantTokens(t)
		f.api("GET", snippetsPath, next.access, "").wantStatus(t, http.StatusOK)
	})
	t.Run("public client: Basic with an empty secret", func(t *testing.T) {
		t.Parallel()
		f.tokenForm(basic(public.id, ""), url.Values{
			"grant_type": {"password"}, "username": {f.alice.username}, "password": {f.alice.password},
		}).wantTokens(t)
	})
	t.Run("public client: client_credentials is unauthorized_client", func(t *testing.T) {
		t.Parallel()
		f.tokenForm("", url.Values{"grant_type": {"client_credentials"}, "client_id": {public.id}}).
			wantError(t, http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("confidential client without its secret is invalid_client", func(t *testing.T) {
		t.Parallel()
		for _, form := range []url.Values{
			{"grant_type": {"client_credentials"}, "client_id": {f.conf.id}},
			{"grant_type": {"password"}, "client_id": {f.conf.id}, "username": {f.alice.username}, "password": {f.alice.password}},
		} {
			r := f.tokenForm("", form).wantError(t, http.StatusUnauthorized, "invalid_client")
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Basic realm=`) {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", h)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		}
		f.tokenForm(basic(f.conf.id, ""), url.Values{"grant_type": {"client_credentials"}}).
			wantError(t, http.StatusUnauthorized, "invalid_client")
	})
}
