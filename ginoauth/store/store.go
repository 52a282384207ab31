// Package store defines what the authorization server keeps: applications
// (OAuth2 clients), users, access tokens and refresh tokens, and the
// interface a storage backend implements to keep them.
//
// Two backends ship with the toolkit and pass the same contract tests
// (package storetest): redisstore, on any redis.UniversalClient, and
// memstore, an in-process store used when no Redis is configured.
//
// Following ory/fosite, a store never sees a raw token: a token is known by
// its family and its SHA-256 signature (see Key), and a record keeps at
// most a digest of the signature, so a dump of the store holds nothing a
// client could present.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors every Store returns (wrapped or bare); callers test them
// with errors.Is.
var (
	// ErrNotFound means the record does not exist, has expired or was revoked.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a record with the same identity already exists.
	ErrDuplicate = errors.New("store: already exists")
	// ErrUnavailable means the backend could not be reached or failed; the
	// operation may or may not have happened. The HTTP layer answers 503.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrConsumed means an authorization code was already redeemed: a replay.
	ErrConsumed = errors.New("store: already consumed")
	// ErrRevoked means a write was refused because its family was revoked
	// (Tokens.RevokeFamily): nothing was stored. The token endpoint answers
	// invalid_grant.
	ErrRevoked = errors.New("store: family revoked")
)

// CodeRetention is how long past its ExpiresAt a store keeps an
// authorization code, consumed or not, so that a replay is recognised (and
// the tokens issued from the code revoked, RFC 6749 4.1.2) rather than
// answered as an unknown code.
const CodeRetention = 10 * time.Minute

// RevokedFamilyRetention is the least time a store remembers that a family
// was revoked. RevokeFamily leaves a tombstone that refuses every later
// write into the family (ErrRevoked) for RevokedFamilyRetention, or until
// the last of the records it deleted would have expired if that is later
// (records that never expire aside). A write racing with the revocation,
// such as the token save of a code redeemed while a replay of it revokes
// its family, is thus refused rather than stored after it: the redemption
// consumed the code before the code's ExpiresAt, and the tombstone lasts
// at least until ExpiresAt + CodeRetention, the code's own retention.
const RevokedFamilyRetention = CodeRetention

// ClientType is RFC 6749 section 2.1's client type.
type ClientType string

// The two client types of RFC 6749 section 2.1.
const (
	Confidential ClientType = "confidential"
	Public       ClientType = "public"
)

// Grant type names as sent in the token request's grant_type parameter.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// Application is a registered OAuth2 client, as DOT's Application model.
type Application struct {
	ClientID string `json:"client_id"`
	// SecretHash is the SHA-256 of the client secret, hex encoded; empty for
	// public clients. Secrets are 256-bit random values, so a fast hash is as
	// strong as a slow one and keeps the token endpoint fast.
	SecretHash string `json:"secret_hash,omitempty"`
	// SealedSecret is the client secret itself, encrypted by the provider
	// (AES-256-GCM under a key derived from its SecretKey; the store
	// neither reads nor can use it). Only a client_secret_jwt client has
	// one: verifying its HS256 assertions (RFC 7523 section 2.2) needs the
	// secret, not its hash.
	SealedSecret []byte     `json:"sealed_secret,omitempty"`
	Name         string     `json:"name"`
	ClientType   ClientType `json:"client_type"`
	// GrantTypes lists the grant types this client may use (DOT allows one;
	// any number may be listed here). The refresh_token grant is allowed to
	// any client that holds a refresh token issued to it.
	GrantTypes   []string `json:"grant_types"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// AllowedScopes is the scope ceiling: a token for this client never
	// carries a scope outside it. Empty means every configured scope.
	AllowedScopes     []string  `json:"allowed_scopes,omitempty"`
	SkipAuthorization bool      `json:"skip_authorization,omitempty"`
	UserID            string    `json:"user_id,omitempty"` // owner, optional
	CreatedAt         time.Time `json:"created_at"`
	// Generation is set by the store: CreateApplication gives it a value
	// never given before (not even to a deleted application of the same
	// ClientID), and RevokeApplicationTokens a new one. Tokens and codes
	// carry the Generation of their application at issuance; the provider
	// refuses one whose Generation is not its application's current one.
	// UpdateApplication keeps the stored Generation, whatever app says.
	Generation int64 `json:"generation,omitempty"`

	// The client metadata of RFC 7591 section 2 and OpenID Connect Dynamic
	// Client Registration 1.0 section 2, under their names there. An
	// application stored before these existed has them empty, which means
	// the defaults: see AuthMethod, IDTokenAlg and TokenFormat.

	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// user back to (exact match).
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// TokenEndpointAuthMethod is how the client authenticates (one of the
	// AuthMethod constants); empty means AuthNone for a public client and
	// AuthClientSecretBasic for a confidential one.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// JWKS is the client's public keys, a JWK Set (RFC 7517 section 5) as
	// raw JSON; JWKSURI is where to fetch them instead. At most one is set.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens:
	// "RS256" (the default, when empty) or "ES256".
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// AccessTokenFormat is "opaque" (the default, when empty) or "jwt"
	// (RFC 9068); an extension of this toolkit.
	AccessTokenFormat string `json:"access_token_format,omitempty"`
	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// refuse this client's requests that do not come through a pushed
	// authorization request (RFC 9126 section 6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// DPoPBoundAccessTokens makes the token endpoint refuse this client
	// tokens requested without a DPoP proof (RFC 9449 section 5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`

	// RegistrationTokenHash is the SHA-256, hex encoded, of the client's
	// registration access token (RFC 7592 section 3), which the provider
	// shows once, at dynamic registration; empty for a client registered
	// otherwise, which then has no configuration endpoint access.
	RegistrationTokenHash string `json:"registration_token_hash,omitempty"`
}

// Values of Application.TokenEndpointAuthMethod (RFC 7591 section 2, OIDC
// Core section 9).
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthClientSecretJWT   = "client_secret_jwt"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Values of Application.AccessTokenFormat and IDTokenSignedResponseAlg.
const (
	TokenFormatOpaque = "opaque"
	TokenFormatJWT    = "jwt"
	AlgRS256          = "RS256"
	AlgES256          = "ES256"
)

// AuthMethod returns TokenEndpointAuthMethod, or its default for the
// client type when it is empty.
func (a *Application) AuthMethod() string {
	switch {
	case a.TokenEndpointAuthMethod != "":
		return a.TokenEndpointAuthMethod
	case a.ClientType == Public:
		return AuthNone
	default:
		return AuthClientSecretBasic
	}
}

// UsesSecret reports whether the client authenticates with a client
// secret: a confidential client whose method is client_secret_basic,
// client_secret_post or client_secret_jwt.
func (a *Application) UsesSecret() bool {
	if a.ClientType != Confidential {
		return false
	}
	switch a.AuthMethod() {
	case AuthClientSecretBasic, AuthClientSecretPost, AuthClientSecretJWT:
		return true
	}
	return false
}

// IDTokenAlg returns IDTokenSignedResponseAlg, or AlgRS256 when empty.
func (a *Application) IDTokenAlg() string {
	if a.IDTokenSignedResponseAlg == "" {
		return AlgRS256
	}
	return a.IDTokenSignedResponseAlg
}

// TokenFormat returns AccessTokenFormat, or TokenFormatOpaque when empty.
func (a *Application) TokenFormat() string {
	if a.AccessTokenFormat == "" {
		return TokenFormatOpaque
	}
	return a.AccessTokenFormat
}

// AllowsGrant reports whether grant is among the application's grant types.
func (a *Application) AllowsGrant(grant string) bool {
	for _, g := range a.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}

// User is a resource owner known to the authorization server.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// PasswordHash is a bcrypt hash; never the password.
	PasswordHash string `json:"password_hash"`
	Email        string `json:"email,omitempty"`
	// EmailVerified: the user proved they own Email (OIDC's email_verified).
	EmailVerified bool      `json:"email_verified,omitempty"`
	FirstName     string    `json:"first_name,omitempty"`
	LastName      string    `json:"last_name,omitempty"`
	IsActive      bool      `json:"is_active"`
	IsStaff       bool      `json:"is_staff,omitempty"`
	DateJoined    time.Time `json:"date_joined"`
}

// Key locates a stored token. Signature is the hex SHA-256 of the token
// string; Family is the grant the token belongs to (every token minted from
// one grant, including rotated refresh tokens, shares it).
//
// A family holds at most one access token, one refresh token and one
// authorization code at a time: stores keep tokens by Family and kind, and
// keep the Signature inside the record. SaveTokens into a family replaces
// the access token it holds (and its refresh token, when rt is not nil),
// and a rotation replaces the pair. A lookup whose Signature is not that of
// the record the family holds (an older token of the family, or a forgery)
// is ErrNotFound; stores compare signatures in constant time. Each
// issuance therefore mints a new family; only a rotation reuses one, and a
// code's family is that of the tokens it is exchanged for. redisstore
// keeps a family in one Redis Cluster slot (hash tag).
type Key struct {
	Family    string `json:"f"`
	Signature string `json:"s"`
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.Signature == "" }

// AccessToken is the stored record of an issued access token.
type AccessToken struct {
	Key      Key      `json:"-"`
	ClientID string   `json:"c"`
	UserID   string   `json:"u,omitempty"`
	Username string   `json:"n,omitempty"`
	Scopes   []string `json:"sc,omitempty"`
	// Audience is the resources the token is for (RFC 8707 section 2): the
	// absolute URIs of the resource servers that may accept it. Empty
	// means the provider's default resource (Config.Resource, or none):
	// the usual token stores nothing here, and one issued before audiences
	// existed keeps working.
	Audience []string `json:"au,omitempty"`
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the key the token is
	// bound to by DPoP (RFC 9449 section 6, "cnf.jkt"); empty for a plain
	// bearer token.
	JKT string `json:"k,omitempty"`
	// Generation is the application's Generation at issuance.
	Generation int64     `json:"g,omitempty"`
	IssuedAt   time.Time `json:"i"`
	ExpiresAt  time.Time `json:"e"`
	// GrantCreatedAt is when the family's first tokens were issued: set by
	// the store on reads (SaveTokens takes IssuedAt; a rotation keeps the
	// old refresh token's), ignored on writes.
	GrantCreatedAt time.Time `json:"-"`
}

// RefreshToken is the stored record of an issued refresh token.
type RefreshToken struct {
	Key      Key      `json:"-"`
	ClientID string   `json:"c"`
	UserID   string   `json:"u,omitempty"`
	Username string   `json:"n,omitempty"`
	Scopes   []string `json:"sc,omitempty"`
	// Resources are those the grant allows (RFC 8707 section 2.2): a
	// refresh may ask for access tokens for any of them. Empty means the
	// provider's default resource, as AccessToken.Audience.
	Resources []string `json:"au,omitempty"`
	// JKT is as AccessToken's: a refresh token issued to a public client
	// with a DPoP proof is bound to that key (RFC 9449 section 5).
	JKT string `json:"k,omitempty"`
	// Generation is the application's Generation at issuance.
	Generation int64     `json:"g,omitempty"`
	IssuedAt   time.Time `json:"i"`
	// ExpiresAt is zero for a refresh token that never expires.
	ExpiresAt time.Time `json:"e,omitempty"`
	// GrantCreatedAt is as AccessToken's.
	GrantCreatedAt time.Time `json:"-"`
}

// AuthorizationCode is the stored record of an authorization code (RFC
// 6749 4.1.2). Its Key's Family is the family of the tokens it is exchanged
// for, so a replayed code can revoke them.
type AuthorizationCode struct {
	Key         Key      `json:"-"`
	ClientID    string   `json:"c"`
	UserID      string   `json:"u"`
	Username    string   `json:"n,omitempty"`
	Scopes      []string `json:"sc,omitempty"`
	RedirectURI string   `json:"ru"`
	// CodeChallenge and CodeChallengeMethod are RFC 7636's ("S256" or
	// "plain"); empty when the request carried no challenge.
	CodeChallenge       string `json:"cc,omitempty"`
	CodeChallengeMethod string `json:"cm,omitempty"`
	// Nonce is the OpenID Connect request's nonce, for the id_token; and
	// AuthTime when the user logged in (OIDC Core section 2's auth_time),
	// zero when unknown.
	Nonce    string    `json:"no,omitempty"`
	AuthTime time.Time `json:"at,omitzero"`
	// Resources are those the authorization request named (RFC 8707
	// section 2.1); the token request may narrow them. Empty means the
	// provider's default resource, as AccessToken.Audience.
	Resources []string `json:"au,omitempty"`
	// DPoPJKT is the authorization request's dpop_jkt (RFC 9449 section
	// 10): the code is redeemed only with a DPoP proof made with that key.
	DPoPJKT string `json:"dj,omitempty"`
	// Generation is the application's Generation at issuance.
	Generation int64     `json:"g,omitempty"`
	IssuedAt   time.Time `json:"i"`
	ExpiresAt  time.Time `json:"e"`
	// ConsumedAt is set once the code was redeemed.
	ConsumedAt time.Time `json:"ca,omitempty"`
}

// RetiredRefreshToken is what is known of a refresh token after rotation:
// enough to recognise its reuse (DOT's REFRESH_TOKEN_REUSE_PROTECTION) and,
// when a rotation filed it, to answer a client that retries within the
// grace period (DOT's REFRESH_TOKEN_GRACE_PERIOD_SECONDS) with the pair it
// already got. See Tokens.GetRetiredRefreshToken.
type RetiredRefreshToken struct {
	Key      Key    `json:"-"`
	ClientID string `json:"c"`
	// RotatedAt is when the rotation filed the record; zero for one
	// inferred from the family's live refresh token.
	RotatedAt time.Time `json:"ra"`
	// Successor is the rotation's answer, sealed by the provider (the store
	// neither reads nor can use it); empty outside a grace period.
	Successor []byte `json:"sx,omitempty"`
	// ExpiresAt is when the store forgets a filed record; for an inferred
	// one, the live refresh token's expiry (zero: never).
	ExpiresAt time.Time `json:"e"`
}

// Grant is one authorization as the user who gave it sees it (DOT's
// "authorized tokens"): the family of tokens minted from one grant, with
// the client, user and scopes of its newest tokens.
type Grant struct {
	Family   string   `json:"f"`
	ClientID string   `json:"c"`
	UserID   string   `json:"u,omitempty"`
	Username string   `json:"n,omitempty"`
	Scopes   []string `json:"sc,omitempty"`
	// Generation is that of the application the grant's tokens were
	// issued under (see Application.Generation).
	Generation int64 `json:"g,omitempty"`
	// CreatedAt is when the family's first tokens were saved.
	CreatedAt time.Time `json:"i"`
	// ExpiresAt is when the family's last live token expires; zero when a
	// live refresh token never expires.
	ExpiresAt time.Time `json:"e,omitempty"`
}

// GrantFilter selects grants by user, or by user and client (AND). A
// filter without UserID is not allowed: stores index grants by user only
// (revoke a client's tokens with Applications.RevokeApplicationTokens).
type GrantFilter struct {
	UserID   string
	ClientID string
}

// Applications keeps OAuth2 clients.
type Applications interface {
	// CreateApplication stores a new application; ErrDuplicate if its
	// ClientID is taken.
	CreateApplication(ctx context.Context, app *Application) error
	// GetApplication returns the application or ErrNotFound.
	GetApplication(ctx context.Context, clientID string) (*Application, error)
	// UpdateApplication replaces a stored application; ErrNotFound if absent.
	UpdateApplication(ctx context.Context, app *Application) error
	// DeleteApplication removes an application; ErrNotFound if absent.
	// Its tokens are left in place: the provider refuses them, as their
	// application is gone (and a recreated application of the same
	// ClientID has a new Generation).
	DeleteApplication(ctx context.Context, clientID string) error
	// RevokeApplicationTokens gives the application a new Generation, never
	// given before, and returns it; ErrNotFound if absent. Every token and
	// code issued to it before carries an older Generation, which the
	// provider refuses: this revokes them all without listing them.
	RevokeApplicationTokens(ctx context.Context, clientID string) (int64, error)
	// ListApplications returns every application, ordered by ClientID.
	ListApplications(ctx context.Context) ([]*Application, error)
}

// Users keeps resource owners.
type Users interface {
	// CreateUser stores a new user; ErrDuplicate if the ID or the Username
	// is taken. Usernames are compared exactly.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with that ID or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns the user with that username or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
}

// Tokens keeps access and refresh tokens. Records expire by themselves at
// their ExpiresAt; a zero ExpiresAt on a refresh token means never.
type Tokens interface {
	// SaveTokens stores a newly issued access token and, when rt is not
	// nil, its refresh token, both or neither, replacing the access token
	// (and, when rt is not nil, the refresh token) their family held (see
	// Key). If their family was revoked
	// (see RevokeFamily) it stores nothing and returns ErrRevoked; the
	// check and the write are one atomic step.
	SaveTokens(ctx context.Context, at *AccessToken, rt *RefreshToken) error
	// GetAccessToken returns the access token stored under k, or ErrNotFound
	// when it does not exist, expired, was revoked or replaced, or its
	// family holds a token of another Signature. Implementations answer
	// it with one round trip: it runs on every protected request.
	GetAccessToken(ctx context.Context, k Key) (*AccessToken, error)
	// GetRefreshToken returns the refresh token stored under k or ErrNotFound.
	GetRefreshToken(ctx context.Context, k Key) (*RefreshToken, error)
	// RotateRefreshToken atomically consumes the refresh token old, as
	// GetRefreshToken returned it (the new tokens keep its GrantCreatedAt),
	// (and
	// revokes the access token its family holds) and stores the new
	// pair and, when retired is not nil, old's retired record (under
	// old.Key, kept until retired.ExpiresAt, read by
	// GetRetiredRefreshToken). If old is no longer stored, because it was
	// used, revoked or expired, it changes nothing and returns ErrNotFound:
	// of any number of concurrent rotations of one refresh token, exactly
	// one succeeds. The new tokens keep old's Family; rt may be nil. If the
	// family was revoked (see RevokeFamily) it changes nothing and returns
	// ErrRevoked, whether or not old is still stored.
	RotateRefreshToken(ctx context.Context, old *RefreshToken, retired *RetiredRefreshToken, at *AccessToken, rt *RefreshToken) error
	// GetRetiredRefreshToken returns what is known of the refresh token k
	// that is no longer live: the retired record a rotation filed under k
	// if there is one, else, when k's family holds a live refresh token
	// other than k, a record inferred from it (its ClientID and ExpiresAt,
	// no RotatedAt, no Successor). A family holds one live refresh token
	// at a time, so a token of the family that is not the live one was
	// rotated away, provided the caller minted k (the provider checks its
	// tag before it asks): reuse detection needs no record per rotation.
	// ErrNotFound when neither exists (k never stored, or its family holds
	// no live refresh token, or k is the live one).
	GetRetiredRefreshToken(ctx context.Context, k Key) (*RetiredRefreshToken, error)
	// RevokeAccessToken deletes an access token; no error if absent (nor
	// when its family holds another one, which it leaves alone).
	RevokeAccessToken(ctx context.Context, k Key) error
	// RevokeRefreshToken deletes a refresh token, as RevokeAccessToken.
	RevokeRefreshToken(ctx context.Context, k Key) error
	// RevokeFamily deletes every token of a family (access, refresh and
	// retired refresh tokens, authorization codes) and its Grant, at once
	// for the tokens (one Redis Cluster slot); no error if none is left,
	// nor if the family never existed. It leaves the family revoked: for
	// RevokedFamilyRetention, or until the last of the deleted records
	// would have expired if that is later, SaveTokens, RotateRefreshToken
	// and SaveAuthorizationCode into it store nothing and return
	// ErrRevoked. A write racing with the revocation therefore either
	// happens before it (and is deleted by it) or is refused; it never
	// lands after it. Revoking a family again never shortens the time it
	// stays revoked. Reads are not affected (validating an access token
	// stays one lookup): a revoked family holds no records.
	RevokeFamily(ctx context.Context, family string) error
	// ListGrants returns the live grants matching f, newest first. A grant
	// lives while any of its access or refresh tokens does; SaveTokens and
	// RotateRefreshToken keep it up to date from the tokens they store.
	// Only grants with a user are listed (tokens without a user, such as
	// client_credentials ones, are in no grant index); a filter without
	// UserID is refused.
	ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, error)
}

// Codes keeps authorization codes.
type Codes interface {
	// SaveAuthorizationCode stores a new code; the store keeps it until
	// ExpiresAt + CodeRetention (callers check ExpiresAt themselves). It
	// returns ErrDuplicate if its family holds a code already (one code a
	// family, see Key), and ErrRevoked,
	// storing nothing, if its family was revoked (see RevokeFamily).
	SaveAuthorizationCode(ctx context.Context, c *AuthorizationCode) error
	// GetAuthorizationCode returns the code stored under k, consumed or
	// not, or ErrNotFound.
	GetAuthorizationCode(ctx context.Context, k Key) (*AuthorizationCode, error)
	// ConsumeAuthorizationCode atomically marks the code under k consumed
	// at the given time: of any number of concurrent calls exactly one gets
	// nil, the others ErrConsumed; ErrNotFound if there is no such code.
	ConsumeAuthorizationCode(ctx context.Context, k Key, at time.Time) error
}

// Limiter counts events in sliding windows, for throttling that holds
// across every instance sharing the store.
type Limiter interface {
	// Allow counts one event under key and reports whether it is within
	// limit: it is allowed when fewer than limit events were allowed under
	// key (and this window length) in the last window, so that no
	// interval of length window ever holds more than limit allowed events.
	// A refused event is not counted. When it is refused, retryAfter is
	// the time until the oldest counted event leaves the window.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Forget drops the events counted under key for windows of length
	// window (a successful login forgets the attempts before it).
	Forget(ctx context.Context, key string, window time.Duration) error
}

// Replays remembers single-use values until they expire, for the checks
// that refuse a second use across every instance sharing the store: a
// signed request of the aws_identity grant, a client assertion's jti
// (RFC 7523 section 3), a DPoP proof's jti (RFC 9449 section 11.1).
type Replays interface {
	// FirstUse records key as used until expiresAt and reports whether
	// this is its first use: of any number of concurrent calls with one
	// key, exactly one gets true until expiresAt has passed. An expiresAt
	// not in the future records nothing and reports false. key must not be
	// empty (ErrInvalid of the store's package otherwise); callers prefix
	// it with their own namespace ("awsid:", "jti:").
	FirstUse(ctx context.Context, key string, expiresAt time.Time) (bool, error)
}

// SocialLinks keeps the links between local users and their accounts at
// upstream OAuth2 providers (python-social-auth's UserSocialAuth), for
// social login and token exchange (package exchange). It is optional: a
// Store that also implements it can back the exchange grants, which
// type-assert it; it is not part of Store.
type SocialLinks interface {
	// LinkSocialUser links the upstream account (provider, upstreamID) to
	// the local user userID. Linking it again to the same user succeeds;
	// ErrDuplicate if it is linked to another user. Links do not expire.
	// provider, upstreamID and userID must not be empty, and provider
	// (a backend name) must not contain ':'; stores refuse such a link.
	LinkSocialUser(ctx context.Context, provider, upstreamID, userID string) error
	// GetSocialUser returns the ID of the local user the upstream account
	// is linked to, or ErrNotFound.
	GetSocialUser(ctx context.Context, provider, upstreamID string) (userID string, err error)
}

// InvalidationHandler receives what a Watcher learns of revocations, for
// a cache of validated tokens. Its methods are called one at a time, in
// order. It starts in the lost state: nothing may be trusted to be
// invalidated until ChannelLive; after ChannelLost, every message until the
// next ChannelLive may have been missed.
type InvalidationHandler interface {
	// InvalidateFamily: tokens of family were revoked or replaced.
	InvalidateFamily(family string)
	// InvalidateClient: the application changed, was deleted, or had all
	// its tokens revoked.
	InvalidateClient(clientID string)
	// InvalidateAll: anything may have changed (a message not understood).
	InvalidateAll()
	// ChannelLive: every invalidation from now on will be delivered, until
	// ChannelLost.
	ChannelLive()
	// ChannelLost: invalidations may have been missed since ChannelLive.
	ChannelLost(err error)
}

// InvalidationLagHandler is implemented by an InvalidationHandler that
// wants to know how late invalidations arrive. A Watcher whose messages
// carry the time of their revocation calls InvalidationLag after each
// such message, with the time from the revocation to its delivery (on
// clocks of different machines, so their skew included).
type InvalidationLagHandler interface {
	InvalidationLag(lag time.Duration)
}

// Watcher is implemented by stores that tell every instance sharing them
// about revocations (redisstore, through Redis pub/sub). It is optional:
// the provider's validation cache type-asserts it.
type Watcher interface {
	// Watch delivers invalidations to h until ctx ends, reconnecting as
	// needed and reporting the channel's state.
	Watch(ctx context.Context, h InvalidationHandler) error
}

// Store is everything the authorization server keeps.
type Store interface {
	Applications
	Users
	Tokens
	Codes
	Limiter
	Replays
	// Ping checks that the backend answers; ErrUnavailable if it does not.
	Ping(ctx context.Context) error
}

// SigningKey is one key of the provider's signing key set (OpenID Connect
// Core section 10.1), as the store keeps it. The private key is sealed by
// the provider (encrypted with a key derived from Config.SecretKey); the
// store neither reads nor can use it.
type SigningKey struct {
	// KID is the key's JWK "kid" (RFC 7517 section 4.5), unique in the set.
	KID string `json:"kid"`
	// Alg is its JWS algorithm, "RS256" or "ES256" (RFC 7518 section 3.1).
	Alg string `json:"alg"`
	// Sealed is the encrypted private key.
	Sealed []byte `json:"sealed"`
	// CreatedAt is when the key was added: it is published from then on.
	CreatedAt time.Time `json:"created_at"`
	// ActiveAt is when it may start signing: after every instance's cache
	// of the published set has had time to learn it.
	ActiveAt time.Time `json:"active_at"`
	// RetiredAt, when set, is when it stopped signing; it stays published
	// until every token it signed has expired.
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// SigningKeys keeps the provider's signing keys, shared by every instance
// so that each signs with, and publishes, the same set. It is optional:
// the provider type-asserts it when OpenID Connect is enabled; memstore
// and redisstore implement it.
type SigningKeys interface {
	// SaveSigningKey adds k to the set or replaces the key with its KID.
	SaveSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns the whole set, in no particular order.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKey removes a key; removing a missing key succeeds.
	DeleteSigningKey(ctx context.Context, kid string) error
}
