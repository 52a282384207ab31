package ginoauth

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/keyset"
	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// errRefreshInvalid is the refresh_token grant's answer to a token that is
// not (or no longer) good, whatever the reason (RFC 6749 section 5.2).
var errRefreshInvalid = oautherr.ErrInvalidGrant.WithDescription("The refresh token is invalid, expired or revoked.")

// refreshGrant is RFC 6749 section 6 with rotation: the presented refresh
// token and its access token stop working in the same atomic step that
// stores the new pair, and only the client the token was issued to may use
// it. The new pair gets the scopes asked for (or the old ones), never more
// than the old ones, and only those the application's current ceiling
// (AllowedScopes) allows: a ceiling lowered since the grant narrows the
// old scopes, a scope asked for outside it is invalid_scope, and so is a
// grant none of whose scopes it still allows. A rotated token presented
// again is either a retry within
// Config.RefreshTokenGracePeriod, answered with the pair the first use got
// (DOT's REFRESH_TOKEN_GRACE_PERIOD_SECONDS), or a reuse, which revokes
// every token of its grant (DOT's REFRESH_TOKEN_REUSE_PROTECTION, RFC 9700
// 4.14.2) unless Config.DisableRefreshTokenReuseProtection is set.
func (p *Provider) refreshGrant(ctx context.Context, app *store.Application, params map[string]string) (*TokenResponse, error) {
	raw := params["refresh_token"]
	if raw == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing refresh_token parameter.")
	}
	invalid := errRefreshInvalid
	family, err := p.codec.Parse(opaque.RefreshPrefix, raw)
	if err != nil {
		return nil, invalid
	}
	k := store.Key{Family: family, Signature: opaque.Signature(raw)}
	// A DPoP proof (RFC 9449 section 5) takes the path below, which binds
	// the new tokens; the one-round-trip rotation refuses a bound token.
	if p.rotator != nil && params["scope"] == "" && len(resourcesFrom(ctx)) == 0 && p.cfg.RefreshTokenGracePeriod <= 0 &&
		p.idTokenCannotFail(app) && !p.jwtAccess(app) && jktFrom(ctx) == "" {
		if ceiling, ok := p.inPlaceCeiling(app); ok {
			resp, err := p.refreshInPlace(ctx, p.rotator, app, k, ceiling, invalid)
			if !errors.Is(err, store.ErrCeiling) {
				return resp, err
			}
			// The application's ceiling was lowered since the grant, or
			// the grant holds a scope Config.NarrowScopes may drop: the
			// steps below narrow the scopes.
		}
	}
	old, err := p.store.GetRefreshToken(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return p.rotatedRefresh(ctx, app, k, invalid)
	}
	if err != nil {
		return nil, err
	}
	if old.ClientID != app.ClientID || old.Generation != app.Generation {
		return nil, invalid // another client's, or revoked with its application's tokens
	}
	if old.JKT != "" && old.JKT != jktFrom(ctx) {
		return nil, invalid // RFC 9449 section 5: bound to another key, or no proof
	}
	now := p.now()
	if !old.ExpiresAt.IsZero() && !now.Before(old.ExpiresAt) {
		return nil, invalid
	}
	scopes := old.Scopes
	asked := false
	if s := params["scope"]; s != "" {
		req, err := scope.Parse(s)
		if err != nil {
			return nil, oautherr.ErrInvalidScope.WithDescription("The scope parameter is malformed.")
		}
		if !subset(req, old.Scopes) {
			return nil, oautherr.ErrInvalidScope.WithDescription("A refreshed token may not gain scopes.")
		}
		scopes, asked = req, len(req) > 0
	}
	// The application's ceiling may have been lowered since the grant. A
	// scope asked for outside it is refused, as at every grant; without a
	// scope parameter the new tokens keep the old scopes it still allows.
	if ceiling := app.AllowedScopes; len(ceiling) > 0 {
		allowed := make([]string, 0, len(scopes))
		for _, s := range scopes {
			switch {
			case slices.Contains(ceiling, s):
				allowed = append(allowed, s)
			case asked:
				return nil, oautherr.ErrInvalidScope.WithDescription("The client may not request scope %s.", oautherr.Quote(s))
			}
		}
		if len(scopes) > 0 && len(allowed) == 0 {
			return nil, oautherr.ErrInvalidScope.WithDescription("The client may no longer use any of this grant's scopes.")
		}
		scopes = allowed
	}
	// Config.NarrowScopes may have narrowed what the user may hold since.
	if scopes, err = p.narrowScopes(ctx, app, old.UserID, scopes); err != nil {
		return nil, err
	}
	// RFC 8707 section 2.2: the new access token is for the resources asked
	// for, each one the grant allows, or for all of them; the new refresh
	// token keeps the grant's.
	access, err := p.narrowResources(resourcesFrom(ctx), old.Resources, issuerFrom(ctx))
	if err != nil {
		return nil, err
	}
	at, rt, resp, err := p.mint(ctx, family, app, old.UserID, old.Username, scopes, true, tokenAudience{access: access, grant: old.Resources})
	if err != nil {
		return nil, err
	}
	// OIDC Core section 12.2: a fresh id_token, without nonce or auth_time.
	err = p.addIDToken(ctx, resp, idTokenParams{app: app, userID: old.UserID, scopes: scopes, accessToken: resp.AccessToken})
	if err != nil {
		return nil, err
	}
	retired, err := p.retire(old, resp, now)
	if err != nil {
		return nil, err
	}
	err = p.store.RotateRefreshToken(ctx, old, retired, at, rt)
	if errors.Is(err, store.ErrRevoked) {
		return nil, invalid // the grant was revoked since the read
	}
	if errors.Is(err, store.ErrNotFound) {
		// A concurrent request rotated it first: a retry, or a reuse.
		return p.rotatedRefresh(ctx, app, k, invalid)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// idTokenCannotFail reports whether a refresh's id_token can fail only by
// an outage, so that the one-round-trip rotation, which learns the grant's
// scopes only as it rotates, may make it afterwards: no claims hook that
// could refuse (OIDCConfig.AdditionalClaims), and an algorithm the key set
// signs with.
func (p *Provider) idTokenCannotFail(app *store.Application) bool {
	if !p.cfg.OIDC.Enabled {
		return true
	}
	alg := cmp.Or(app.IDTokenSignedResponseAlg, p.cfg.OIDC.DefaultAlg)
	return p.cfg.OIDC.AdditionalClaims == nil && keyset.Supported(alg)
}

// inPlaceCeiling is the ceiling refreshInPlace hands the store: the
// application's AllowedScopes, and with Config.NarrowScopes set every
// scope the hook cannot drop (Config.NarrowedScopes): a grant holding a
// scope outside it takes the path that asks the hook. ok is false when
// the fast path cannot be taken (a hook without NarrowedScopes, or one
// that may drop every scope).
func (p *Provider) inPlaceCeiling(app *store.Application) (ceiling []string, ok bool) {
	if p.cfg.NarrowScopes == nil {
		return app.AllowedScopes, true
	}
	if len(p.cfg.NarrowedScopes) == 0 {
		return nil, false
	}
	base := app.AllowedScopes
	if len(base) == 0 {
		base = p.scopeNames
	}
	ceiling = make([]string, 0, len(base))
	for _, s := range base {
		if !slices.Contains(p.cfg.NarrowedScopes, s) {
			ceiling = append(ceiling, s)
		}
	}
	return ceiling, len(ceiling) > 0
}

// refreshInPlace is refreshGrant in one store round trip, when the new
// tokens copy the grant unchanged (no scope or resource parameter: the
// access token is for all of the grant's resources; no Config.NarrowScopes
// to ask, as ceiling, which the store checks, makes sure) and no answer needs
// sealing for a grace period: the store reads, checks and rotates the
// refresh token in one step (store.RefreshRotator). It returns
// store.ErrCeiling, having changed nothing, when a scope of the grant is
// outside the application's current ceiling. Its caller takes it only
// when the id_token cannot be refused (idTokenCannotFail): one that still
// cannot be made once the tokens are rotated (a store outage reading the
// user) is left out, as OIDC Core section 12.2 allows, rather than failing
// a rotation that already happened.
func (p *Provider) refreshInPlace(ctx context.Context, rr store.RefreshRotator, app *store.Application, k store.Key, ceiling []string, invalid *oautherr.Error) (*TokenResponse, error) {
	now := p.now().UTC()
	access, err := p.codec.Mint(opaque.AccessPrefix, k.Family)
	if err != nil {
		return nil, err
	}
	refresh, err := p.codec.Mint(opaque.RefreshPrefix, k.Family)
	if err != nil {
		return nil, err
	}
	req := store.RotateRefresh{
		ClientID: app.ClientID, Generation: app.Generation, Ceiling: ceiling, Now: now,
		Access:          store.Key{Family: k.Family, Signature: opaque.Signature(access)},
		Refresh:         store.Key{Family: k.Family, Signature: opaque.Signature(refresh)},
		AccessExpiresAt: now.Add(p.accessTTL),
	}
	if p.refreshTTL > 0 {
		req.RefreshExpiresAt = now.Add(p.refreshTTL)
	}
	old, err := rr.RotateRefresh(ctx, k, req)
	switch {
	case errors.Is(err, store.ErrRotated):
		// k verified (codec.Parse) and was rotated away: a reuse.
		return nil, p.refreshReused(ctx, app, k, invalid)
	case errors.Is(err, store.ErrNotFound):
		return p.rotatedRefresh(ctx, app, k, invalid) // a retired record an older version filed
	case errors.Is(err, store.ErrGrantMismatch), errors.Is(err, store.ErrRevoked):
		return nil, invalid // another client's, or revoked
	case err != nil:
		return nil, err
	}
	resp := &TokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(p.accessTTL.Seconds()),
		Scope:        scope.Format(old.Scopes),
		RefreshToken: refresh,
	}
	err = p.addIDToken(ctx, resp, idTokenParams{app: app, userID: old.UserID, scopes: old.Scopes, accessToken: access})
	if err != nil {
		resp.IDToken = ""
		p.logError(ctx, "ginoauth: refresh_token grant: the new tokens go out without an id_token", err)
	}
	return resp, nil
}

// retire makes the record a rotation leaves behind for
// Config.RefreshTokenGracePeriod (the sealed answer, kept for the period),
// or nil without one: reuse detection needs no record
// (store.Tokens.GetRetiredRefreshToken infers one from the family).
func (p *Provider) retire(old *store.RefreshToken, resp *TokenResponse, now time.Time) (*store.RetiredRefreshToken, error) {
	grace := p.cfg.RefreshTokenGracePeriod
	if grace <= 0 {
		return nil, nil
	}
	sealed, err := p.sealResponse(old.Key, resp)
	if err != nil {
		return nil, err
	}
	return &store.RetiredRefreshToken{ClientID: old.ClientID, RotatedAt: now.UTC(), ExpiresAt: now.Add(grace), Successor: sealed}, nil
}

// rotatedRefresh answers a refresh token that is no longer live: the same
// new pair again within the grace period, else invalid_grant, revoking the
// token's whole grant when it was rotated (a reuse: the token leaked, or
// the client misbehaves).
func (p *Provider) rotatedRefresh(ctx context.Context, app *store.Application, k store.Key, invalid *oautherr.Error) (*TokenResponse, error) {
	retired, err := p.store.GetRetiredRefreshToken(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if retired.ClientID != app.ClientID {
		return nil, invalid
	}
	now := p.now()
	if grace := p.cfg.RefreshTokenGracePeriod; grace > 0 && len(retired.Successor) > 0 && now.Sub(retired.RotatedAt) <= grace {
		resp, err := p.openResponse(k, retired.Successor)
		if err == nil {
			return resp, nil
		}
		p.logError(ctx, "ginoauth: a retired refresh token's successor does not open", err)
	}
	return nil, p.refreshReused(ctx, app, k, invalid)
}

// refreshReused answers the reuse of the rotated refresh token k of app:
// invalid, after revoking its whole grant unless
// Config.DisableRefreshTokenReuseProtection is set (RFC 9700 section
// 4.14.2).
func (p *Provider) refreshReused(ctx context.Context, app *store.Application, k store.Key, invalid *oautherr.Error) error {
	p.observeRefreshReuse()
	if p.cfg.DisableRefreshTokenReuseProtection {
		return invalid
	}
	p.log.WarnContext(ctx, "ginoauth: rotated refresh token reused; revoking its grant", "client_id", app.ClientID)
	if err := p.store.RevokeFamily(ctx, k.Family); err != nil {
		return err
	}
	return invalid
}
