// Package gooauth2 lets a service built on the go-oauth2 stack
// (github.com/go-oauth2/oauth2/v4, go-oauth2/gin-server and
// go-oauth2/redis/v4) move to ginoauth without logging anybody out. It is
// the only package of the toolkit that imports go-oauth2.
//
// It has three parts, one per step of docs/migrating-from-go-oauth2.md:
//
//   - NewTokenStore and NewClientStore plug into go-oauth2's Manager
//     (MapTokenStorage, MapClientStorage), so an existing go-oauth2 server
//     keeps running while its tokens move onto go-redis v9 under SHA-256
//     signatures and its clients come from ginoauth's store.Applications.
//     With WithLegacyNamespace the TokenStore also reads the tokens
//     go-oauth2/redis v4 already stored.
//   - NewLegacyValidator reads access tokens that go-oauth2/redis v4 wrote,
//     in its own key layout, as a resource.TokenValidator; a TokenStore is
//     one too (TokenStore.Validate).
//   - Chain puts a ginoauth.Provider and one of those behind one
//     resource.Authenticate middleware for the migration window: tokens of
//     both servers are accepted until the old ones expire.
//
// docs/migrating-from-go-oauth2.md walks through the steps.
package gooauth2
