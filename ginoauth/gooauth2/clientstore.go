package gooauth2

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ClientStore is a go-oauth2 oauth2.ClientStore backed by ginoauth's
// store.Applications, so applications registered with ginoauth (the
// management commands, the admin pages, Provider.CreateApplication) are the
// clients of a go-oauth2 server during a migration. Create it with
// NewClientStore and hand it to manage.Manager.MapClientStorage.
type ClientStore struct {
	apps store.Applications
}

var _ oauth2.ClientStore = (*ClientStore)(nil)

// NewClientStore returns a ClientStore reading apps (any store.Store, such
// as a redisstore.Store, is one).
func NewClientStore(apps store.Applications) *ClientStore {
	if apps == nil {
		panic("gooauth2: NewClientStore needs a store.Applications")
	}
	return &ClientStore{apps: apps}
}

// GetByID returns the application with that client id as a *ClientInfo.
// An unknown client is go-oauth2's errors.ErrInvalidClient (401
// invalid_client); a store outage is an error wrapping
// store.ErrUnavailable.
func (s *ClientStore) GetByID(ctx context.Context, id string) (oauth2.ClientInfo, error) {
	app, err := s.apps.GetApplication(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oerrors.ErrInvalidClient
	}
	if err != nil {
		return nil, err
	}
	return &ClientInfo{App: app}, nil
}

// ClientInfo is a ginoauth application seen as a go-oauth2 client.
//
// ginoauth keeps only the SHA-256 of a client secret
// (store.Application.SecretHash), never the secret, so GetSecret returns
// "" and the secret is checked by VerifyPassword, which go-oauth2's Manager
// calls instead of comparing GetSecret with the presented secret when the
// client implements oauth2.ClientPasswordVerifier. Code that reads
// GetSecret itself must be changed to call VerifyPassword.
type ClientInfo struct {
	App *store.Application
}

var (
	_ oauth2.ClientInfo             = (*ClientInfo)(nil)
	_ oauth2.ClientPasswordVerifier = (*ClientInfo)(nil)
)

// GetID returns the client id.
func (c *ClientInfo) GetID() string { return c.App.ClientID }

// GetSecret returns "": the secret is not stored (see VerifyPassword).
func (c *ClientInfo) GetSecret() string { return "" }

// GetDomain returns the application's first redirect URI, which go-oauth2
// checks redirect URIs against, or "" when it has none. go-oauth2's default
// check (manage.DefaultValidateURI) matches hosts by suffix; ginoauth
// matches redirect URIs exactly (docs/migrating-from-go-oauth2.md).
func (c *ClientInfo) GetDomain() string {
	if len(c.App.RedirectURIs) == 0 {
		return ""
	}
	return c.App.RedirectURIs[0]
}

// IsPublic reports whether the application is a public client.
func (c *ClientInfo) IsPublic() bool { return c.App.ClientType == store.Public }

// GetUserID returns the application's owner.
func (c *ClientInfo) GetUserID() string { return c.App.UserID }

// VerifyPassword checks a presented client secret against the stored
// SHA-256, in constant time, as ginoauth's token endpoint does. A public
// client passes only without a secret; a confidential client only with its
// secret.
func (c *ClientInfo) VerifyPassword(secret string) bool {
	if c.IsPublic() {
		return secret == ""
	}
	if secret == "" || len(c.App.SecretHash) != len(ginoauth.HashClientSecret("")) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ginoauth.HashClientSecret(secret)), []byte(c.App.SecretHash)) == 1
}
