// Package store defines what the authorization server keeps: applications
// (OAuth2 clients), users, access tokens and refresh tokens, and the
// interface a storage backend implements to keep them.
//
// Two backends ship with the toolkit and pass the same contract tests
// (package storetest): redisstore, on any redis.UniversalClient, and
// memstore, an in-process store used when no Redis is configured.
//
// Following ory/fosite, a store never sees a raw token: tokens are kept under
// their SHA-256 signature (see Key), so a dump of the store holds nothing a
// client could present.
package store

import (
	"context"
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
)

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
	SecretHash string     `json:"secret_hash,omitempty"`
	Name       string     `json:"name"`
	ClientType ClientType `json:"client_type"`
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
	PasswordHash string    `json:"password_hash"`
	Email        string    `json:"email,omitempty"`
	FirstName    string    `json:"first_name,omitempty"`
	LastName     string    `json:"last_name,omitempty"`
	IsActive     bool      `json:"is_active"`
	IsStaff      bool      `json:"is_staff,omitempty"`
	DateJoined   time.Time `json:"date_joined"`
}

// Key locates a stored token. Signature is the hex SHA-256 of the token
// string; Family is the grant the token belongs to (every token minted from
// one grant, including rotated refresh tokens, shares it). Stores may use
// Family to keep a grant's tokens together, as redisstore does with a Redis
// Cluster hash tag.
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
	// Refresh is the key of the refresh token issued with this access token.
	Refresh   Key       `json:"r,omitempty"`
	IssuedAt  time.Time `json:"i"`
	ExpiresAt time.Time `json:"e"`
}

// RefreshToken is the stored record of an issued refresh token.
type RefreshToken struct {
	Key      Key      `json:"-"`
	ClientID string   `json:"c"`
	UserID   string   `json:"u,omitempty"`
	Username string   `json:"n,omitempty"`
	Scopes   []string `json:"sc,omitempty"`
	// Access is the key of the access token issued with this refresh token.
	Access   Key       `json:"a"`
	IssuedAt time.Time `json:"i"`
	// ExpiresAt is zero for a refresh token that never expires.
	ExpiresAt time.Time `json:"e,omitempty"`
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
	DeleteApplication(ctx context.Context, clientID string) error
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
	// nil, its refresh token, both or neither.
	SaveTokens(ctx context.Context, at *AccessToken, rt *RefreshToken) error
	// GetAccessToken returns the access token stored under k, or ErrNotFound
	// when it does not exist, expired or was revoked. Implementations answer
	// it with one round trip: it runs on every protected request.
	GetAccessToken(ctx context.Context, k Key) (*AccessToken, error)
	// GetRefreshToken returns the refresh token stored under k or ErrNotFound.
	GetRefreshToken(ctx context.Context, k Key) (*RefreshToken, error)
	// RotateRefreshToken atomically consumes the refresh token old (and
	// revokes the access token old.Access issued with it) and stores the new
	// pair. If old is no longer stored, because it was used, revoked or
	// expired, it changes nothing and returns ErrNotFound: of any number of
	// concurrent rotations of one refresh token, exactly one succeeds. The
	// new tokens keep old's Family; rt may be nil.
	RotateRefreshToken(ctx context.Context, old *RefreshToken, at *AccessToken, rt *RefreshToken) error
	// RevokeAccessToken deletes an access token; no error if absent.
	RevokeAccessToken(ctx context.Context, k Key) error
	// RevokeRefreshToken deletes a refresh token; no error if absent.
	RevokeRefreshToken(ctx context.Context, k Key) error
}

// Store is everything the authorization server keeps.
type Store interface {
	Applications
	Users
	Tokens
	// Ping checks that the backend answers; ErrUnavailable if it does not.
	Ping(ctx context.Context) error
}
