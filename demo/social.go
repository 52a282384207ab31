package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/exchange"
)

// The two roles of docs/social-login.md: `demo serve --site social` is the
// upstream social site, `demo serve --social-url URL` the API trusting it.
const (
	// siteSocial is --site social: the fake social site.
	siteSocial = "social"
	// socialPrefix replaces the Redis key prefix of the social site, so
	// that both sites can share one Redis.
	socialPrefix = "demo_social:"
	// The backends of the API, as in the seed.
	backendSocial           = "fake_social_site"
	backendSocialWithParams = "fake_social_site_with_params"
)

// socialGrants returns the exchange grants trusting the social site at
// base (--social-url) for the tokens it issued to the clients clientIDs
// (--social-client-id), or nil when base or clientIDs is empty: a token
// of the social site is a user's grant to one of its clients, and any
// application the user once authorized there holds one, so the API
// converts only the tokens of the clients it names. The social site's
// user details say which client a token was issued to (client_id).
func socialGrants(base string, clientIDs []string, log *slog.Logger) ([]ginoauth.GrantType, error) {
	if base == "" || len(clientIDs) == 0 {
		return nil, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--social-url %q: want the social site's base URL, such as http://localhost:8001", base)
	}
	base = strings.TrimRight(base, "/")
	return exchange.GrantTypes(exchange.Config{
		Backends: []exchange.Backend{
			{Name: backendSocial, UserDetailsURL: base + userDetailsPath, ClientIDField: "client_id", AllowedClientIDs: clientIDs},
			{Name: backendSocialWithParams, UserDetailsURL: base + "/user_details_by_username/{username}/", ClientIDField: "client_id", AllowedClientIDs: clientIDs},
		},
		DefaultBackend: backendSocial,
		// As the seed: one live login per user and application.
		RevokeEarlierTokens: true,
		Logger:              log,
	})
}

// socialSite returns the environment of the social site: its Redis keys
// under socialPrefix instead of the API's defaultPrefix. Under another
// prefix (a test's), they go under that prefix and "social:".
func (e *runEnv) socialSite() *runEnv {
	se := *e
	se.prefix = socialPrefix
	if e.prefix != defaultPrefix {
		se.prefix = e.prefix + "social:"
	}
	return &se
}

// manageGrants are the grants the management commands' provider has
// beyond the built-in ones, so that createapplication accepts them: the
// API's exchange grants (convert-token, token-exchange), none for the
// social site, which converts no tokens. The commands serve no token
// endpoint, so the backend is never called: whichever social site and
// clients `demo serve --social-url --social-client-id` name later are the
// ones trusted.
func manageGrants(site string, log *slog.Logger) ([]ginoauth.GrantType, error) {
	if site == siteSocial {
		return nil, nil
	}
	return socialGrants("http://localhost:8001", []string{"(never called)"}, log)
}

// socialGrantTypes are the grant types of the demo application when the
// API trusts a social site.
var socialGrantTypes = []string{exchange.GrantConvertToken, exchange.GrantTokenExchange}

// printSocial prints how to convert a social site's token at this API,
// or that the API converts none without --social-client-id.
func printSocial(w io.Writer, socialURL string, clientIDs []string) {
	if len(clientIDs) == 0 {
		fmt.Fprintf(w, `Social login is off: --social-url %s names no --social-client-id, so this API converts
no token of that site (any application a user once authorized there could otherwise sign in
here as the user). Name the social site's clients whose tokens to convert, with
--social-client-id ID (repeatable). See docs/social-login.md.

`, socialURL)
		return
	}
	fmt.Fprintf(w, `Social login: this API trusts the social site at %[1]s as backend %[2]q
(and %[3]q), for the tokens it issued to %[4]s. With SOCIAL_TOKEN such a token:
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=convert_token -d backend=%[2]s --data-urlencode "token=$SOCIAL_TOKEN" $BASE/o/token/
See docs/social-login.md.

`, socialURL, backendSocial, backendSocialWithParams, strings.Join(clientIDs, ", "))
}

// demoGrants are the grant types the demo application gets beyond
// password and client_credentials.
func (a *app) demoGrants() []string {
	if a.socialURL == "" || len(a.socialClientIDs) == 0 {
		return nil
	}
	return socialGrantTypes
}
