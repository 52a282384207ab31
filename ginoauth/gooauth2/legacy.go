package gooauth2

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// LegacyValidator validates access tokens that go-oauth2/redis v4 wrote, in
// its key layout, so a resource server running ginoauth keeps accepting
// them until they expire. It only reads. Create it with
// NewLegacyValidator.
//
// go-oauth2/redis v4 keeps, under its key namespace ns (the keyNamespace
// argument of its NewRedisStore, "" by default):
//
//	ns + <access token>   -> a random UUID (the "basic id"), TTL: the access lifetime, capped at the refresh lifetime
//	ns + <refresh token>  -> the same UUID, TTL: the refresh lifetime
//	ns + <UUID>           -> go-oauth2's models.Token as JSON, TTL: the refresh lifetime (the access lifetime without a refresh token)
//	ns + <code>           -> models.Token as JSON, TTL: the code lifetime
//
// The JSON has models.Token's field names (ClientID, UserID, Scope, Access,
// AccessCreateAt, AccessExpiresIn in nanoseconds, Refresh, ...).
// Validate reads the pointer and the record in one round trip (a Lua
// script; two GETs on Redis Cluster, where the two keys may sit in
// different slots).
type LegacyValidator struct {
	rdb redis.UniversalClient
	ns  string
	now func() time.Time
}

var _ resource.TokenValidator = (*LegacyValidator)(nil)

// NewLegacyValidator returns a validator of go-oauth2/redis v4 access
// tokens stored on client under keyNamespace (the namespace given to
// go-oauth2/redis's NewRedisStore; "" if none was). Options: WithClock.
func NewLegacyValidator(client redis.UniversalClient, keyNamespace string, opts ...Option) *LegacyValidator {
	if client == nil {
		panic("gooauth2: NewLegacyValidator needs a Redis client")
	}
	o := newOptions(opts)
	return &LegacyValidator{rdb: client, ns: keyNamespace, now: o.now}
}

// legacyToken is the part of go-oauth2's models.Token JSON the validator
// reads.
type legacyToken struct {
	ClientID         string        `json:"ClientID"`
	UserID           string        `json:"UserID"`
	Scope            string        `json:"Scope"`
	Access           string        `json:"Access"`
	AccessCreateAt   time.Time     `json:"AccessCreateAt"`
	AccessExpiresIn  time.Duration `json:"AccessExpiresIn"`
	Refresh          string        `json:"Refresh"`
	RefreshCreateAt  time.Time     `json:"RefreshCreateAt"`
	RefreshExpiresIn time.Duration `json:"RefreshExpiresIn"`
}

// legacyGetScript follows the pointer in one round trip: KEYS[1] is
// ns+token, ARGV[1] is ns.
var legacyGetScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)
`)

var errLegacyInvalid = oautherr.ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")

// Validate checks an access token issued by a go-oauth2 server. An unknown,
// expired or removed token (or a refresh token or code presented as an
// access token) is oautherr.ErrInvalidToken; a Redis failure is an error
// wrapping store.ErrUnavailable (503). Tokens with ginoauth's prefixes are
// refused without a lookup. Scopes are the stored scope string split on
// spaces; IssuedAt and ExpiresAt come from the stored creation time and
// lifetime (ExpiresAt is zero for a token go-oauth2 made to never expire).
func (v *LegacyValidator) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	if token == "" || isOurs(token) {
		return nil, errLegacyInvalid
	}
	var (
		b   []byte
		err error
	)
	if _, cluster := v.rdb.(*redis.ClusterClient); cluster {
		var id string
		id, err = v.rdb.Get(ctx, v.ns+token).Result()
		if err == nil {
			b, err = v.rdb.Get(ctx, v.ns+id).Bytes()
		}
	} else {
		var s string
		s, err = legacyGetScript.Run(ctx, v.rdb, []string{v.ns + token}, v.ns).Text()
		b = []byte(s)
	}
	if errors.Is(err, redis.Nil) {
		return nil, errLegacyInvalid
	}
	if err != nil {
		return nil, unavailable("reading a go-oauth2 token", err)
	}
	var t legacyToken
	if err := json.Unmarshal(b, &t); err != nil {
		// Not a token record: the key held something else.
		return nil, errLegacyInvalid
	}
	// The pointer of a refresh token leads to the same record: only the
	// access token itself passes.
	if t.Access == "" || subtle.ConstantTimeCompare([]byte(t.Access), []byte(token)) != 1 {
		return nil, errLegacyInvalid
	}
	return t.info(v.now())
}

// info checks a go-oauth2 token's expiries as go-oauth2's Manager does
// (LoadAccessToken) and returns what it grants.
func (t *legacyToken) info(now time.Time) (*resource.TokenInfo, error) {
	// go-oauth2's Manager refuses an access token whose refresh token
	// expired, and one past its own lifetime; zero lifetimes never expire.
	if t.Refresh != "" && t.RefreshExpiresIn != 0 && !now.Before(t.RefreshCreateAt.Add(t.RefreshExpiresIn)) {
		return nil, errLegacyInvalid
	}
	info := &resource.TokenInfo{
		ClientID: t.ClientID,
		UserID:   t.UserID,
		Scopes:   strings.Fields(t.Scope),
		IssuedAt: t.AccessCreateAt,
	}
	if t.AccessExpiresIn != 0 {
		info.ExpiresAt = t.AccessCreateAt.Add(t.AccessExpiresIn)
		if !now.Before(info.ExpiresAt) {
			return nil, errLegacyInvalid
		}
	}
	return info, nil
}

// Prefixes of ginoauth's tokens (see docs/design.md, "Tokens"). A token
// carrying one is never looked up in the go-oauth2 layout.
var ourPrefixes = []string{"goat_", "gort_", "goac_"}

func isOurs(token string) bool {
	for _, p := range ourPrefixes {
		if strings.HasPrefix(token, p) {
			return true
		}
	}
	return false
}

// Chain returns a TokenValidator that asks validators in order, for the
// migration window: pass the ginoauth.Provider (or Introspector) first and
// the LegacyValidator after it, as in
//
//	r.Use(resource.Authenticate(gooauth2.Chain(provider, legacy), opts))
//
// The first validator that accepts the token wins. A validator that
// refuses it (oautherr.ErrInvalidToken) hands it to the next, except that a
// token with ginoauth's prefix ("goat_", ...) refused by a validator is
// refused outright: it never falls through to the legacy lookup. A
// validator that cannot tell (any other error, such as store.ErrUnavailable)
// stops the chain with its error, which Authenticate answers with 503.
// When every validator refuses, the last refusal is returned.
func Chain(validators ...resource.TokenValidator) resource.TokenValidator {
	vs := make([]resource.TokenValidator, 0, len(validators))
	for _, v := range validators {
		if v != nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		panic("gooauth2: Chain needs at least one TokenValidator")
	}
	return chain(vs)
}

type chain []resource.TokenValidator

func (c chain) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	ours := isOurs(token)
	var err error
	for _, v := range c {
		var info *resource.TokenInfo
		info, err = v.Validate(ctx, token)
		if err == nil && info != nil {
			return info, nil
		}
		if err == nil || !errors.Is(err, oautherr.ErrInvalidToken) || ours {
			break
		}
	}
	if err == nil {
		// A validator returned neither a token nor an error: let
		// Authenticate report the broken contract.
		return nil, nil
	}
	return nil, err
}
