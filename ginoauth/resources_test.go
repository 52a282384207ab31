package ginoauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// The resources of the RFC 8707 tests: the provider's own (Config.Resource,
// the default audience and what its Middleware requires) and two more it
// issues tokens for (Config.Resources).
const (
	resA = "https://api.example.com/"
	resB = "https://b.example.com/v1"
	resC = "urn:example:c"
)

func withResources(c *ginoauth.Config) {
	c.Resource = resA
	c.Resources = []string{resB, resC}
}

// introspectAud introspects token as the confidential client and returns
// the answer's aud as JSON decoded it (a string, an array, or nil).
func (e *env) introspectAud(token string) any {
	e.t.Helper()
	return e.introspectAudAs(token, []string{e.confID, e.secret})
}

// introspectAudAs is introspectAud as the client basic ({id, secret}).
func (e *env) introspectAudAs(token string, basic []string) any {
	e.t.Helper()
	r := e.post("/o/introspect/", url.Values{"token": {token}}, basic, "")
	if r.status != 200 || r.body["active"] != true {
		e.t.Fatalf("introspection: status %d, body %v; want 200 and active", r.status, r.body)
	}
	return r.body["aud"]
}

// audOf is the introspection aud expected for resources: a string for
// one, an array for several, nil for none.
func audOf(resources ...string) any {
	switch len(resources) {
	case 0:
		return nil
	case 1:
		return resources[0]
	}
	out := make([]any, len(resources))
	for i, r := range resources {
		out[i] = r
	}
	return out
}

// wantAudienceRefused checks that the middleware refuses token as a token
// for another resource: 401 invalid_token with a description naming the
// audience.
func wantAudienceRefused(t *testing.T, what string, r resp) {
	t.Helper()
	if !wantError(t, what, r, 401, "invalid_token") {
		return
	}
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error_description="The access token's audience does not include this resource."`) {
		t.Errorf("%s: WWW-Authenticate = %q, want the audience error_description", what, got)
	}
}

// TestResourceIndicatorsTokenEndpoint: the resource parameter (RFC 8707
// section 2) at the token endpoint, for the client_credentials and
// password grants: the token's audience is the resources asked for
// (introspection's aud, a string for one and an array for several), or
// Config.Resource when none; the middleware, whose audience is
// Config.Resource, refuses a token for other resources only; a relative
// URI, a fragment or a resource not served is invalid_target.
func TestResourceIndicatorsTokenEndpoint(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withResources)
		conf := []string{e.confID, e.secret}
		for _, grant := range []string{"client_credentials", "password"} {
			for _, tc := range []struct {
				name      string
				resources []string
				wantAud   any
				accepted  bool // by the middleware (audience resA)
			}{
				{"none: the default", nil, audOf(resA), true},
				{"the default named", []string{resA}, audOf(resA), true},
				{"another", []string{resB}, audOf(resB), false},
				{"an URN", []string{resC}, audOf(resC), false},
				{"two others", []string{resB, resC}, audOf(resB, resC), false},
				{"the default and another", []string{resA, resB}, audOf(resA, resB), true},
				{"repeated", []string{resB, resB}, audOf(resB), false},
			} {
				what := grant + ", " + tc.name
				f := url.Values{"grant_type": {grant}, "resource": tc.resources}
				if grant == "password" {
					f.Set("username", e.username)
					f.Set("password", e.password)
				}
				r := e.token(f, conf)
				if !wantStatus(t, what, r, 200) {
					continue
				}
				if _, ok := r.body["aud"]; ok {
					t.Errorf("%s: the token answer has aud, want none (RFC 8707 adds no response member)", what)
				}
				if got := e.introspectAud(r.str("access_token")); !reflect.DeepEqual(got, tc.wantAud) {
					t.Errorf("%s: introspection aud = %#v, want %#v", what, got, tc.wantAud)
				}
				got := e.get("/api/whoami", r.str("access_token"))
				if tc.accepted {
					wantStatus(t, what+": whoami", got, 200)
				} else {
					wantAudienceRefused(t, what+": whoami", got)
				}
			}
			for _, tc := range []struct{ name, resource string }{
				{"relative", "/api/"},
				{"fragment", "https://api.example.com/#x"},
				{"empty fragment", "https://api.example.com/#"},
				{"unknown", "https://evil.example.com/"},
				{"a served one's prefix", "https://api.example.com"},
				{"empty", ""},
				{"space", "https://api.example.com/ x"},
			} {
				what := grant + ", invalid " + tc.name
				f := url.Values{"grant_type": {grant}, "resource": {resB, tc.resource}}
				if grant == "password" {
					f.Set("username", e.username)
					f.Set("password", e.password)
				}
				wantError(t, what, e.token(f, conf), 400, "invalid_target")
			}
		}
		// A JSON body may send resource as an array.
		req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(`{"grant_type":"client_credentials","resource":["`+resB+`","`+resC+`"]}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(e.confID, e.secret)
		if r := e.do(req); wantStatus(t, "JSON body with a resource array", r, 200) {
			if got, want := e.introspectAud(r.str("access_token")), audOf(resB, resC); !reflect.DeepEqual(got, want) {
				t.Errorf("JSON body with a resource array: aud = %#v, want %#v", got, want)
			}
		}
	})
}

// TestResourceIndicatorsWithXOAuth2: golang.org/x/oauth2's client
// credentials flow sends resource through EndpointParams.
func TestResourceIndicatorsWithXOAuth2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", withResources)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	for _, tc := range []struct {
		name      string
		resources []string
		wantAud   any
		status    int // of whoami
	}{
		{"default", nil, audOf(resA), 200},
		{"two", []string{resA, resB}, audOf(resA, resB), 200},
		{"another", []string{resB}, audOf(resB), 401},
	} {
		cc := clientcredentials.Config{ClientID: e.confID, ClientSecret: e.secret, TokenURL: e.srv.URL + "/o/token/",
			AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": tc.resources}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("%s: Token: %v", tc.name, err)
		}
		if got := e.introspectAud(tok.AccessToken); !reflect.DeepEqual(got, tc.wantAud) {
			t.Errorf("%s: aud = %#v, want %#v", tc.name, got, tc.wantAud)
		}
		wantStatus(t, tc.name+": whoami", e.get("/api/whoami", tok.AccessToken), tc.status)
	}
	cc := clientcredentials.Config{ClientID: e.confID, ClientSecret: e.secret, TokenURL: e.srv.URL + "/o/token/",
		AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": {"https://evil.example.com/"}}}
	_, err := cc.Token(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
		t.Errorf("unknown resource: error %v, want an oauth2.RetrieveError with invalid_target", err)
	}
}

// TestResourceIndicatorsRefresh: a refresh may narrow the access token to
// some of the grant's resources (RFC 8707 section 2.2), never name another;
// without resource the new access token is for all the grant allows, as
// the refresh token keeps the grant's. A refused refresh leaves the refresh
// token usable.
func TestResourceIndicatorsRefresh(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withResources)
		conf := []string{e.confID, e.secret}
		refresh := func(rt string, resources ...string) resp {
			return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": resources}, conf)
		}
		r := e.token(url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}, "resource": {resA, resB}}, conf)
		if !wantStatus(t, "password grant for A and B", r, 200) {
			t.FailNow()
		}
		rt := r.str("refresh_token")
		for _, bad := range []string{resC, "https://evil.example.com/", "relative"} {
			wantError(t, "refresh naming "+bad, refresh(rt, resA, bad), 400, "invalid_target")
		}
		r = refresh(rt, resB)
		if !wantStatus(t, "refresh narrowed to B (after refused ones)", r, 200) {
			t.FailNow()
		}
		if got := e.introspectAud(r.str("access_token")); got != resB {
			t.Errorf("refresh narrowed to B: aud = %#v, want %q", got, resB)
		}
		wantAudienceRefused(t, "refresh narrowed to B: whoami", e.get("/api/whoami", r.str("access_token")))
		r = refresh(r.str("refresh_token"))
		if !wantStatus(t, "refresh without resource", r, 200) {
			t.FailNow()
		}
		if got, want := e.introspectAud(r.str("access_token")), audOf(resA, resB); !reflect.DeepEqual(got, want) {
			t.Errorf("refresh without resource: aud = %#v, want the grant's %#v", got, want)
		}
		if got, want := e.introspectAud(r.str("refresh_token")), audOf(resA, resB); !reflect.DeepEqual(got, want) {
			t.Errorf("refresh token after a narrowed refresh: aud = %#v, want the grant's %#v", got, want)
		}
		wantStatus(t, "refresh without resource: whoami", e.get("/api/whoami", r.str("access_token")), 200)

		// A grant for the default resource allows the default only.
		r = e.passwordToken("")
		wantError(t, "default grant, refresh naming B", refresh(r.str("refresh_token"), resB), 400, "invalid_target")
		r = refresh(r.str("refresh_token"), resA)
		if wantStatus(t, "default grant, refresh naming A", r, 200) {
			if got := e.introspectAud(r.str("access_token")); got != resA {
				t.Errorf("default grant, refresh naming A: aud = %#v, want %q", got, resA)
			}
		}
	})
}

// TestResourceIndicatorsCodeFlow: resource at the authorization endpoint
// (repeatable, shown on the consent page and posted back by it, kept with
// the code); the code's redemption may narrow it, and naming a resource
// the code does not allow is invalid_target, leaving the code usable. A
// bad resource at the authorization endpoint is an invalid_target redirect.
func TestResourceIndicatorsCodeFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, withResources)
		conf := ce.oauthConfig()
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client())
		b := ce.browser("u1.alice")
		web := []string{ce.webID, ce.webSecret}

		v := oauth2.GenerateVerifier()
		authURL, _ := url.Parse(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(v)))
		q := authURL.Query()
		q["resource"] = []string{resA, resB}
		authURL.RawQuery = q.Encode()
		pg := fetch(t, b, "GET", authURL.String(), nil)
		if !wantPageStatus(t, "consent page with two resources", pg, 200) {
			t.FailNow()
		}
		for _, r := range []string{resA, resB} {
			if !strings.Contains(pg.body, "<code>"+r+"</code>") {
				t.Errorf("consent page: does not show resource %s", r)
			}
		}
		f := consentForm(t, pg.body)
		if got := f["resource"]; !reflect.DeepEqual(got, []string{resA, resB}) {
			t.Errorf("consent form: resource fields = %q, want %q", got, []string{resA, resB})
		}
		f.Set("allow", "Authorize")
		pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
		if !wantRedirect(t, "consent answer", pg) {
			t.FailNow()
		}
		code := pg.location.Query().Get("code")

		_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", resC))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
			t.Fatalf("redeeming for C, which the code does not allow: error %v, want invalid_target", err)
		}
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", resB))
		if err != nil {
			t.Fatalf("redeeming for B after the refused C: %v", err)
		}
		if got := ce.introspectAudAs(tok.AccessToken, web); got != resB {
			t.Errorf("code redeemed for B: aud = %#v, want %q", got, resB)
		}
		wantAudienceRefused(t, "code redeemed for B: whoami", ce.get("/api/whoami", tok.AccessToken))
		r := ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web)
		if wantStatus(t, "refresh of the code's grant", r, 200) {
			if got, want := ce.introspectAudAs(r.str("access_token"), web), audOf(resA, resB); !reflect.DeepEqual(got, want) {
				t.Errorf("refresh of the code's grant: aud = %#v, want %#v", got, want)
			}
			wantStatus(t, "refresh of the code's grant: whoami", ce.get("/api/whoami", r.str("access_token")), 200)
		}

		// A code for the default resource, redeemed without resource.
		v = oauth2.GenerateVerifier()
		loc := ce.authorize(t, b, conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)))
		tok, err = conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if got := ce.introspectAudAs(tok.AccessToken, web); got != resA {
			t.Errorf("code without resource: aud = %#v, want %q", got, resA)
		}

		// Bad resources at the authorization endpoint: redirected.
		for _, tc := range []struct{ name, resource string }{
			{"relative", "api"},
			{"fragment", resB + "#f"},
			{"unknown", "https://evil.example.com/"},
		} {
			u := conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", tc.resource))
			pg := fetch(t, b, "GET", u, nil)
			if wantPageStatus(t, "authorize, "+tc.name, pg, 302) {
				wantParam(t, "authorize, "+tc.name, pg.location, "error", "invalid_target")
				wantParam(t, "authorize, "+tc.name, pg.location, "state", "s3")
			}
		}
		// ... but not to a redirect URI that is not the client's.
		u := conf.AuthCodeURL("s4", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", "api"),
			oauth2.SetAuthURLParam("redirect_uri", "https://evil.example.com/cb"))
		if pg := fetch(t, b, "GET", u, nil); pg.status != 400 || pg.location != nil {
			t.Errorf("authorize, bad resource and unregistered redirect_uri: status %d, location %v; want 400 and no redirect", pg.status, pg.location)
		}
	})
}

// TestNoResourceConfigured: without Config.Resource (and so without
// Config.Resources, which needs it) tokens have no audience and the
// middleware checks none (the behaviour before resource indicators); the
// issuer, which the RFC 9728 metadata then publishes as the resource, may
// be named, and nothing else.
func TestNoResourceConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	conf := []string{e.confID, e.secret}
	for _, tc := range []struct {
		name      string
		resources []string
		wantAud   any
	}{
		{"none", nil, nil},
		{"the issuer", []string{e.srv.URL}, nil},
	} {
		r := e.token(url.Values{"grant_type": {"client_credentials"}, "resource": tc.resources}, conf)
		if !wantStatus(t, tc.name, r, 200) {
			continue
		}
		if got := e.introspectAud(r.str("access_token")); !reflect.DeepEqual(got, tc.wantAud) {
			t.Errorf("%s: aud = %#v, want %#v", tc.name, got, tc.wantAud)
		}
		wantStatus(t, tc.name+": whoami", e.get("/api/whoami", r.str("access_token")), 200)
	}
	wantError(t, "the default resource of another configuration", e.token(url.Values{"grant_type": {"client_credentials"}, "resource": {resA}}, conf), 400, "invalid_target")
	wantError(t, "the issuer beside another resource", e.token(url.Values{"grant_type": {"client_credentials"}, "resource": {e.srv.URL, resB}}, conf), 400, "invalid_target")
}

// TestTokensWithoutAudienceStayValid: a token stored without an audience
// (issued before audiences existed, or for the default resource) is for
// Config.Resource: accepted by the middleware, aud in introspection.
func TestTokensWithoutAudienceStayValid(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withResources)
		app, err := e.p.Store().GetApplication(context.Background(), e.confID)
		if err != nil {
			t.Fatal(err)
		}
		// IssueTokens outside a token request: no resource, the default.
		resp, err := e.p.IssueTokens(context.Background(), app, ginoauth.IssueRequest{Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := e.p.Validate(context.Background(), resp.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(info.Audience, []string{resA}) {
			t.Errorf("Validate: Audience = %q, want [%s]", info.Audience, resA)
		}
		wantStatus(t, "whoami", e.get("/api/whoami", resp.AccessToken), 200)
		if got := e.introspectAud(resp.AccessToken); got != resA {
			t.Errorf("aud = %#v, want %q", got, resA)
		}
	})
}

// TestResourceConfigValidated: New refuses a Resource or Resources entry
// that is not an absolute URI without a fragment.
func TestResourceConfigValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		resource  string
		resources []string
		ok        bool
	}{
		{"both good", resA, []string{resB, resC}, true},
		{"none", "", nil, true},
		{"relative Resource", "/api", nil, false},
		{"Resource with a fragment", resA + "#x", nil, false},
		{"relative in Resources", resA, []string{"api"}, false},
		{"empty in Resources", resA, []string{""}, false},
		{"Resources without Resource", "", []string{resB}, false},
	} {
		_, err := ginoauth.New(ginoauth.Config{SecretKey: testKey, Resource: tc.resource, Resources: tc.resources})
		if (err == nil) != tc.ok {
			t.Errorf("%s: New error = %v, want ok = %v", tc.name, err, tc.ok)
		}
	}
}

// TestResourceAudienceOnCacheHit: with the validation cache, a token for
// another resource is refused on a cache hit as on a miss, and a token for
// the middleware's resource accepted.
func TestResourceAudienceOnCacheHit(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p, err := ginoauth.New(ginoauth.Config{Store: newStore(t, "redis"), SecretKey: testKey, ValidationCache: true, Observer: rec,
		Resource: resA, Resources: []string{resB}, Scopes: map[string]string{"read": "Read"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if !eventually(2*time.Second, p.ValidationCacheLive) {
		t.Fatal("validation cache: got not live after 2 s, want live")
	}
	ctx := context.Background()
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, p: p, srv: newServer(t, p)}
	hits := func() int {
		n := 0
		for _, ev := range rec.got() {
			if ev == "validation cache_hit" {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		resource string
		status   int
	}{
		{"other resource", resB, 401},
		{"own resource", resA, 200},
	} {
		r := e.token(url.Values{"grant_type": {"client_credentials"}, "resource": {tc.resource}}, []string{app.ClientID, secret})
		if !wantStatus(t, tc.name+": token", r, 200) {
			continue
		}
		before := hits()
		for range 3 {
			got := e.get("/api/whoami", r.str("access_token"))
			if tc.status == 401 {
				wantAudienceRefused(t, tc.name+": whoami", got)
			} else {
				wantStatus(t, tc.name+": whoami", got, tc.status)
			}
		}
		if got := hits() - before; got < 1 {
			t.Errorf("%s: cache hits over three requests = %d, want at least 1 (the check must hold on a hit)", tc.name, got)
		}
	}
}

// TestResourceIndicatorsDeviceGrant: the device_code grant's token request
// sets the audience too; a bad resource there is invalid_target and leaves
// the approved device code usable.
func TestResourceIndicatorsDeviceGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		de := newDeviceEnv(t, kind, withResources)
		u := de.srv.URL
		code, userCode := de.start(t, u, de.tvID)
		decide(t, deviceBrowser("u1.alice", u), u, userCode, true)
		pollFor := func(resources ...string) resp {
			return postForm(t, u+"/o/token/", url.Values{"grant_type": {store.GrantDeviceCode}, "client_id": {de.tvID},
				"device_code": {code}, "resource": resources})
		}
		wantError(t, "device poll naming an unknown resource", pollFor("https://evil.example.com/"), 400, "invalid_target")
		r := pollFor(resB)
		if !wantStatus(t, "device poll for B", r, 200) {
			t.FailNow()
		}
		info, err := de.p.Validate(context.Background(), r.str("access_token"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(info.Audience, []string{resB}) {
			t.Errorf("device token: Audience = %q, want [%s]", info.Audience, resB)
		}
		e := &env{t: t, srv: de.srv}
		wantAudienceRefused(t, "device token for B: whoami", e.get("/api/whoami", r.str("access_token")))
	})
}
