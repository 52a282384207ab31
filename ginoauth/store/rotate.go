package store

import (
	"context"
	"errors"
	"time"
)

// RefreshRotator is optionally implemented by a Store that can read and
// rotate a refresh token in one step, so that the refresh_token grant
// costs one round trip instead of GetRefreshToken's and
// RotateRefreshToken's. The provider uses it when the new tokens copy the
// old one's grant unchanged: no scope parameter, no grace period (which
// needs the answer sealed before the write).
type RefreshRotator interface {
	// RotateRefresh consumes the refresh token old, if it is its family's
	// live refresh token (not expired at req.Now) of application
	// req.ClientID under req.Generation, and if req.Ceiling is empty or
	// holds each of its scopes. In one atomic step it revokes the family's
	// access token, stores a new access token (req.Access, expiring at
	// req.AccessExpiresAt) and a new refresh token (req.Refresh, expiring
	// at req.RefreshExpiresAt, or never when that is zero), both with old's
	// client, user, username, scopes, generation and grant creation time
	// (the access token's Audience being old's Resources) and issued at
	// req.Now, and returns old as it was stored. It files no retired
	// record: GetRetiredRefreshToken recognises old from the new live
	// token.
	//
	// It changes nothing and returns ErrRevoked when the family is
	// revoked; ErrNotFound when the family holds no live refresh token
	// (used and revoked, expired, or never stored); ErrGrantMismatch when
	// the family's refresh token belongs to another application or
	// generation, or is old but bound to a DPoP key (RefreshToken.JKT: the
	// caller checks the proof, RFC 9449 section 5, and rotates with
	// RotateRefreshToken); ErrRotated when it is another token of
	// req.ClientID under req.Generation (old was rotated away: a reuse, if
	// the caller minted old); and ErrCeiling when a scope of old is outside
	// req.Ceiling (the caller falls back to GetRefreshToken and
	// RotateRefreshToken, which can narrow the scopes). Of any number of
	// concurrent rotations of one token, at most one succeeds, and the
	// others get ErrRotated. req.Access and req.Refresh must be in old's
	// family.
	RotateRefresh(ctx context.Context, old Key, req RotateRefresh) (*RefreshToken, error)
}

// RotateRefresh is what RefreshRotator.RotateRefresh needs besides the
// rotated token's Key.
type RotateRefresh struct {
	ClientID   string
	Generation int64
	// Ceiling is the application's AllowedScopes; empty means no ceiling.
	Ceiling []string
	Now     time.Time

	Access           Key
	AccessExpiresAt  time.Time
	Refresh          Key
	RefreshExpiresAt time.Time // zero: never
}

// ErrGrantMismatch, ErrRotated and ErrCeiling are
// RefreshRotator.RotateRefresh's refusals that change nothing.
var (
	ErrGrantMismatch = errors.New("store: the refresh token belongs to another application or generation")
	ErrRotated       = errors.New("store: the refresh token was rotated: its family holds another one")
	ErrCeiling       = errors.New("store: a scope of the refresh token is outside the application's ceiling")
)
