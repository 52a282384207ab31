package ginoauth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// pubToken gets alice a token from the env's public client.
func (e *env) pubToken() resp {
	e.t.Helper()
	r := e.token(url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}, "client_id": {e.pubID}}, nil)
	if r.status != 200 {
		e.t.Fatalf("public password grant: status = %d, want 200 (body %v)", r.status, r.body)
	}
	return r
}

func (e *env) ccToken() resp {
	e.t.Helper()
	r := e.token(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, e.secret})
	if r.status != 200 {
		e.t.Fatalf("client_credentials grant: status = %d, want 200 (body %v)", r.status, r.body)
	}
	return r
}

// works reports whether an access token is accepted by the middleware.
func (e *env) works(tok resp) bool {
	e.t.Helper()
	return e.get("/api/whoami", tok.str("access_token")).status == 200
}

func TestManageListApplications(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		ctx := context.Background()
		var mine []string
		for _, owner := range []string{"u1", "u2", "u1"} {
			app, _, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Public, GrantTypes: []string{"password"}, UserID: owner})
			if err != nil {
				t.Fatal(err)
			}
			if owner == "u1" {
				mine = append(mine, app.ClientID)
			}
		}
		slices.Sort(mine)
		for _, tc := range []struct {
			owner string
			n     int
		}{{"", 5}, {"u1", 2}, {"u2", 1}, {"nobody", 0}} {
			apps, err := e.p.ListApplications(ctx, tc.owner)
			if err != nil {
				t.Errorf("ListApplications(%q): error %v, want nil", tc.owner, err)
			}
			if apps == nil {
				t.Errorf("ListApplications(%q): got nil, want a non-nil slice", tc.owner)
			}
			if len(apps) != tc.n {
				t.Errorf("ListApplications(%q): got %d apps, want %d", tc.owner, len(apps), tc.n)
			}
			if tc.owner == "u1" {
				var ids []string
				for _, a := range apps {
					ids = append(ids, a.ClientID)
				}
				if !slices.Equal(ids, mine) {
					t.Errorf("u1's applications: got %v, want %v", ids, mine)
				}
			}
		}
	})
}

func TestManageUpdateApplication(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		ctx := context.Background()
		errMine, errAny := errors.New("mine"), errors.New("any")
		for _, tc := range []struct {
			name    string
			id      func() string
			change  func(*store.Application) error
			invalid bool
			err     error // errors.Is; errAny: any error but an invalid application
			check   func(*store.Application) bool
		}{
			{"invalid grant", nil, func(a *store.Application) error { a.GrantTypes = []string{"implicit"}; return nil }, true, nil, nil},
			{"no grant", nil, func(a *store.Application) error { a.GrantTypes = nil; return nil }, true, nil, nil},
			{"bad client type", nil, func(a *store.Application) error { a.ClientType = "secret"; return nil }, true, nil, nil},
			{"public client_credentials", func() string { return e.pubID }, func(a *store.Application) error {
				a.GrantTypes = []string{"client_credentials"}
				return nil
			}, true, nil, nil},
			{"code without redirect", nil, func(a *store.Application) error { a.GrantTypes = []string{"authorization_code"}; return nil }, true, nil, nil},
			{"bad redirect", nil, func(a *store.Application) error {
				a.GrantTypes, a.RedirectURIs = []string{"authorization_code"}, []string{"http://evil.example/cb"}
				return nil
			}, true, nil, nil},
			{"unknown scope", nil, func(a *store.Application) error { a.AllowedScopes = []string{"root"}; return nil }, true, nil, nil},
			{"public to confidential without a secret", func() string { return e.pubID }, func(a *store.Application) error {
				a.ClientType = store.Confidential
				return nil
			}, true, nil, nil},
			{"client id change", nil, func(a *store.Application) error { a.ClientID = "other"; return nil }, false, errAny, nil},
			{"change's own error", nil, func(*store.Application) error { return errMine }, false, errMine, nil},
			{"missing", func() string { return "nope" }, func(*store.Application) error { return nil }, false, store.ErrNotFound, nil},
			{"valid", nil, func(a *store.Application) error {
				a.Name = "renamed"
				a.GrantTypes = []string{"authorization_code", "password", "authorization_code"}
				a.RedirectURIs = []string{"https://a.example/cb", "https://a.example/cb"}
				a.AllowedScopes = []string{"read"}
				return nil
			}, false, nil, func(a *store.Application) bool {
				return a.Name == "renamed" && slices.Equal(a.GrantTypes, []string{"authorization_code", "password"}) &&
					slices.Equal(a.RedirectURIs, []string{"https://a.example/cb"}) && slices.Equal(a.AllowedScopes, []string{"read"}) &&
					a.SecretHash == ginoauth.HashClientSecret(e.secret)
			}},
			{"confidential to public drops the secret", nil, func(a *store.Application) error {
				a.ClientType, a.GrantTypes = store.Public, []string{"password"}
				return nil
			}, false, nil, func(a *store.Application) bool { return a.ClientType == store.Public && a.SecretHash == "" }},
		} {
			id := e.confID
			if tc.id != nil {
				id = tc.id()
			}
			before, _ := e.p.Store().GetApplication(ctx, id)
			got, err := e.p.UpdateApplication(ctx, id, tc.change)
			after, _ := e.p.Store().GetApplication(ctx, id)
			switch {
			case tc.invalid:
				var ie *ginoauth.InvalidApplicationError
				if !errors.Is(err, ginoauth.ErrInvalidApplication) {
					t.Errorf("%s: error %v, want ErrInvalidApplication", tc.name, err)
				}
				if !errors.As(err, &ie) {
					t.Errorf("%s: error %v, want an *InvalidApplicationError", tc.name, err)
				} else if len(ie.Problems) == 0 {
					t.Errorf("%s: %d problems, want at least 1", tc.name, len(ie.Problems))
				}
				if got != nil {
					t.Errorf("%s: returned %+v, want nil", tc.name, got)
				}
			case tc.err != nil:
				if err == nil {
					t.Errorf("%s: error nil, want %v", tc.name, tc.err)
				}
				if got != nil {
					t.Errorf("%s: returned %+v, want nil", tc.name, got)
				}
				if errors.Is(err, ginoauth.ErrInvalidApplication) {
					t.Errorf("%s: error %v, want one that is not ErrInvalidApplication", tc.name, err)
				}
				if tc.err != errAny && err != nil && !errors.Is(err, tc.err) {
					t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
				}
			default:
				if err != nil {
					t.Errorf("%s: error %v, want nil", tc.name, err)
				}
				if !tc.check(got) {
					t.Errorf("%s: returned %+v, want the update applied", tc.name, got)
				}
				if !tc.check(after) {
					t.Errorf("%s: stored %+v, want the update applied", tc.name, after)
				}
				continue
			}
			if before == nil {
				continue
			}
			if !slices.Equal(before.GrantTypes, after.GrantTypes) {
				t.Errorf("%s: refused update stored GrantTypes: got %v, want %v", tc.name, after.GrantTypes, before.GrantTypes)
			}
			if before.Name != after.Name {
				t.Errorf("%s: refused update stored Name: got %q, want %q", tc.name, after.Name, before.Name)
			}
			if before.ClientType != after.ClientType {
				t.Errorf("%s: refused update stored ClientType: got %q, want %q", tc.name, after.ClientType, before.ClientType)
			}
			if before.SecretHash != after.SecretHash {
				t.Errorf("%s: refused update stored SecretHash: got %q, want %q", tc.name, after.SecretHash, before.SecretHash)
			}
		}
		// Public to confidential with a secret works.
		app, err := e.p.UpdateApplication(ctx, e.pubID, func(a *store.Application) error {
			a.ClientType, a.SecretHash = store.Confidential, ginoauth.HashClientSecret("s3cret")
			return nil
		})
		if err != nil {
			t.Fatalf("public to confidential: error %v, want nil", err)
		}
		if got, want := app.SecretHash, ginoauth.HashClientSecret("s3cret"); got != want {
			t.Fatalf("public to confidential: SecretHash = %q, want %q", got, want)
		}
	})
}

func TestManageDeleteApplication(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		ctx := context.Background()
		pw, cc, pub := e.passwordToken(""), e.ccToken(), e.pubToken()
		if err := e.p.DeleteApplication(ctx, e.confID); err != nil {
			t.Fatal(err)
		}
		if e.works(pw) {
			t.Fatal("password token of the deleted application: works, want refused")
		}
		if e.works(cc) {
			t.Fatal("client_credentials token of the deleted application: works, want refused")
		}
		r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")}}, []string{e.confID, e.secret})
		if !wantStatus(t, "refresh with the deleted client", r, 401) {
			t.FailNow()
		}
		g, err := e.p.ListGrants(ctx, store.GrantFilter{UserID: "u1", ClientID: e.confID})
		if err != nil {
			t.Fatalf("ListGrants of the deleted client: error %v, want nil", err)
		}
		if len(g) != 0 {
			t.Fatalf("grants left of the deleted client: got %v, want none", g)
		}
		if _, err := e.p.ListGrants(ctx, store.GrantFilter{ClientID: e.confID}); err == nil {
			t.Fatal("ListGrants by client alone: error nil, want one (grants are indexed by user)")
		}
		if !e.works(pub) {
			t.Fatal("another application's token: refused, want it to work")
		}
		if _, err := e.p.Store().GetApplication(ctx, e.confID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetApplication of the deleted client: error %v, want ErrNotFound", err)
		}
		for _, id := range []string{e.confID, "nope"} {
			if err := e.p.DeleteApplication(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DeleteApplication(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})
}

func TestManageRevokeGrants(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		ctx := context.Background()
		pw1, pw2, cc, pub := e.passwordToken(""), e.passwordToken("read"), e.ccToken(), e.pubToken()
		n, err := e.p.RevokeGrants(ctx, store.GrantFilter{})
		if err == nil {
			t.Fatal("RevokeGrants with the zero filter: error nil, want one")
		}
		if n != 0 {
			t.Fatalf("RevokeGrants with the zero filter: revoked %d, want 0", n)
		}
		if _, err := e.p.ListGrants(ctx, store.GrantFilter{}); err == nil {
			t.Fatal("ListGrants with the zero filter: error nil, want one")
		}
		for _, tc := range []struct {
			name    string
			f       store.GrantFilter
			n       int
			revoked []resp
			alive   []resp
		}{
			{"user and client", store.GrantFilter{UserID: "u1", ClientID: e.pubID}, 1, []resp{pub}, []resp{pw1, pw2, cc}},
			{"user", store.GrantFilter{UserID: "u1"}, 2, []resp{pw1, pw2}, []resp{cc}},
			// A client alone: every token of the application at once (a
			// new generation), counted as one.
			{"client", store.GrantFilter{ClientID: e.confID}, 1, []resp{cc}, nil},
			{"client again", store.GrantFilter{ClientID: e.confID}, 1, nil, nil},
			{"unknown client", store.GrantFilter{ClientID: "nope"}, 0, nil, nil},
		} {
			n, err := e.p.RevokeGrants(ctx, tc.f)
			if err != nil {
				t.Errorf("%s: error %v, want nil", tc.name, err)
			}
			if n != tc.n {
				t.Errorf("%s: revoked %d, want %d", tc.name, n, tc.n)
			}
			for _, tok := range tc.revoked {
				if e.works(tok) {
					t.Errorf("%s: revoked token works, want refused", tc.name)
				}
			}
			for _, tok := range tc.alive {
				if !e.works(tok) {
					t.Errorf("%s: token it should not revoke is refused, want it to work", tc.name)
				}
			}
		}
	})
}

func TestManageStoreOutage(t *testing.T) {
	t.Parallel()
	down, err := redisstore.New(redistest.Unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: down, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"ListApplications": func() error { _, err := p.ListApplications(ctx, "u1"); return err },
		"UpdateApplication": func() error {
			_, err := p.UpdateApplication(ctx, "x", func(*store.Application) error { return nil })
			return err
		},
		"DeleteApplication": func() error { return p.DeleteApplication(ctx, "x") },
		"ListGrants":        func() error { _, err := p.ListGrants(ctx, store.GrantFilter{UserID: "u1"}); return err },
		"RevokeGrants":      func() error { _, err := p.RevokeGrants(ctx, store.GrantFilter{ClientID: "x"}); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s during an outage: error %v, want ErrUnavailable", name, err)
		}
	}
}
