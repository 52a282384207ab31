package store

import "context"

// FreshTokenSaver is optionally implemented by a Store that can store the
// tokens of a family nobody has seen more cheaply than SaveTokens: a
// family the caller has just generated for this issuance, which no
// RevokeFamily can have named, needs no revocation check. The provider
// uses it for the grants that open a new family (client_credentials,
// password, token exchange, custom grants); the exchange of an
// authorization or device code, whose family was handed out with the code
// and may have been revoked by its replay, goes through SaveTokens.
type FreshTokenSaver interface {
	// SaveFreshTokens stores at and, when rt is not nil, rt, both or
	// neither, as SaveTokens does, into a family that was never handed
	// out. It need not check the family's revocation, so it must not be
	// used for any other family.
	SaveFreshTokens(ctx context.Context, at *AccessToken, rt *RefreshToken) error
}
