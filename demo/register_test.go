package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// TestDemoRegistration: the demo registers clients (RFC 7591) for a token
// carrying scope register, which only staff users get; the registration
// access token reads and deletes the client (RFC 7592). On Redis and on
// the embedded store.
func TestDemoRegistration(t *testing.T) {
	embedded := func(o *options) { o.Store, o.Snippets = memstore.New(), snippets.NewMemory() }
	for _, tc := range []struct {
		name string
		mods []func(*options)
	}{{"redis", nil}, {"memory", []func(*options){embedded}}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mods...)
			staffPw := randomString(t)
			staff, err := f.provider.CreateUser(context.Background(), ginoauth.NewUser{Username: "admin", Password: staffPw, IsStaff: true})
			if err != nil {
				t.Fatal(err)
			}
			admin := userCreds{"admin", staffPw}

			// Only staff get the scope: dropped for others (RFC 6749 3.3),
			// invalid_scope when it is all they asked for.
			if got := f.passwordToken(f.conf, f.alice, "read register").scope; got != "read" {
				t.Errorf("non-staff user asking for read register got %q, want read", got)
			}
			f.tokenForm(basic(f.conf.id, f.conf.secret), map[string][]string{
				"grant_type": {"password"}, "username": {f.alice.username}, "password": {f.alice.password}, "scope": {"register"},
			}).wantError(t, 400, "invalid_scope")
			if got := f.clientToken(f.conf, "read register").scope; got != "read" {
				t.Errorf("client_credentials asking for read register got %q, want read", got)
			}
			if got := f.passwordToken(f.conf, f.alice, "").scope; got != "read write" {
				t.Errorf("default scopes = %q, want read write (register is never a default)", got)
			}
			staffToken := f.passwordToken(f.conf, admin, "register")
			if staffToken.scope != "register" {
				t.Fatalf("staff user asking for register got %q", staffToken.scope)
			}

			doc := `{"client_name":"Registered machine","grant_types":["client_credentials"],"scope":"read"}`
			register := func(token string) result {
				hdr := map[string]string{"Content-Type": "application/json"}
				if token != "" {
					hdr["Authorization"] = "Bearer " + token
				}
				return f.do(http.MethodPost, "/o/register/", hdr, doc)
			}
			before, _ := f.provider.Store().ListApplications(context.Background())
			register("").wantError(t, 401, "invalid_token")
			r := register(f.passwordToken(f.conf, f.alice, "read register").access).wantError(t, 403, "insufficient_scope")
			if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `scope="register"`) {
				t.Errorf("WWW-Authenticate = %q, want scope=\"register\"", h)
			}
			if after, _ := f.provider.Store().ListApplications(context.Background()); len(after) != len(before) {
				t.Errorf("refused registrations stored clients: %d, was %d", len(after), len(before))
			}

			r = register(staffToken.access).wantStatus(t, 201)
			id, secret, regToken := r.str(t, "client_id"), r.str(t, "client_secret"), r.str(t, "registration_access_token")
			app, err := f.provider.Store().GetApplication(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if app.UserID != staff.ID {
				t.Errorf("owner = %q, want the staff user %q", app.UserID, staff.ID)
			}
			machine := clientCreds{id, secret}
			if got := f.clientToken(machine, "").scope; got != "read" {
				t.Errorf("the registered client's token: scope %q, want read", got)
			}
			auth := map[string]string{"Authorization": "Bearer " + regToken}
			f.do(http.MethodGet, "/o/register/"+id, auth, "").wantStatus(t, 200)
			f.do(http.MethodDelete, "/o/register/"+id, auth, "").wantStatus(t, 204)
			if _, err := f.provider.Store().GetApplication(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after DELETE: %v, want ErrNotFound", err)
			}
			f.do(http.MethodGet, "/o/register/"+id, auth, "").wantError(t, 401, "invalid_token")

			m := f.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, "").wantStatus(t, 200)
			if got := m.str(t, "registration_endpoint"); got != f.url+"/o/register/" {
				t.Errorf("registration_endpoint = %q, want %s/o/register/", got, f.url)
			}
		})
	}
}
