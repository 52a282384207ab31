package ginoauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/keyset"
	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/internal/tokencache"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// JWT access tokens (RFC 9068). A JWT access token is stored as an opaque
// one is (store.AccessToken under its family, with the SHA-256 of the whole
// JWT as its signature), so introspection, revocation, rotation, the
// authorized-tokens page and every revocation by family, user or
// application work on it unchanged. What differs is validation: the
// provider checks the signature and claims, and accepts the token without
// a store read when its validation cache's invalidation channel is live
// and no invalidation of the token's family or client has arrived since it
// was issued (tokencache.Cache.Trusted); otherwise it reads the record, as
// for an opaque token. So a revocation on any instance reaches every other
// within the channel's delay, as for cached opaque tokens.

// accessClaims is a JWT access token's claims set (RFC 9068 section 2.2).
type accessClaims struct {
	// Jti comes first, so that quickJTIFamily finds it at the start of
	// the payload.
	Jti string `json:"jti"`
	Iss string `json:"iss,omitempty"`
	// Sub is the user's stable id, or for a token with no user (the
	// client_credentials grant) the client_id (RFC 9068 section 2.2).
	Sub      string   `json:"sub"`
	Aud      Audience `json:"aud,omitempty"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	// PreferredUsername is the user's username (OIDC Core section 5.1, as
	// RFC 9068 section 2.2.3.1 allows), for TokenInfo.Username.
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Cnf is RFC 7800's confirmation: the DPoP key's thumbprint (RFC 9449
	// section 6.1).
	Cnf *confirmation `json:"cnf,omitempty"`
	// Gen is the application's Generation at issuance (a private claim,
	// RFC 7519 section 4.3), so a token accepted without a store read is
	// still refused once its application's tokens were revoked or the
	// application deleted.
	Gen *int64 `json:"gen,omitempty"`
}

type confirmation struct {
	JKT string `json:"jkt,omitempty"`
}

// jtiRandomLen is the length of a jti's random part: 16 bytes, base64url.
const jtiRandomLen = 22

// maxJWTAccessToken bounds the JWT access tokens looked at; a longer string
// is refused before it is decoded.
const maxJWTAccessToken = 8 << 10

// newJTI returns a jti for a token of family: the family, a dot, and 128
// random bits, so the family (the grant, and the store key) is known from
// the token alone.
func newJTI(family string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return family + "." + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// jtiFamily returns the family a jti of newJTI names.
func jtiFamily(jti string) (string, bool) {
	if len(jti) != opaque.FamilyLen+1+jtiRandomLen || jti[opaque.FamilyLen] != '.' {
		return "", false
	}
	return jti[:opaque.FamilyLen], true
}

// isJWT reports whether token has the shape of a compact JWS with a JSON
// header ("eyJ": base64url of `{"`), as opposed to this provider's opaque
// tokens, which start with their kind's prefix.
func isJWT(token string) bool {
	return strings.HasPrefix(token, "eyJ") && strings.Count(token, ".") == 2
}

// jwtAccess reports whether app gets JWT access tokens: its
// AccessTokenFormat, or Config.AccessTokenFormat when it names none.
func (p *Provider) jwtAccess(app *store.Application) bool {
	return p.AccessTokenFormat(app) == store.TokenFormatJWT
}

// AccessTokenFormat is the format of the access tokens the provider
// issues to app: the application's own (Application.AccessTokenFormat),
// else Config.AccessTokenFormat, else store.TokenFormatOpaque.
func (p *Provider) AccessTokenFormat(app *store.Application) string {
	switch {
	case app.AccessTokenFormat != "":
		return app.AccessTokenFormat
	case p.cfg.AccessTokenFormat != "":
		return p.cfg.AccessTokenFormat
	}
	return store.TokenFormatOpaque
}

// mintJWT signs at as a JWT access token with Config.AccessTokenAlg, and
// sets at's signature to the JWT's.
func (p *Provider) mintJWT(ctx context.Context, at *store.AccessToken) (string, error) {
	if p.keys == nil {
		return "", errors.New("ginoauth: JWT access tokens need a Store that implements store.SigningKeys")
	}
	jti, err := newJTI(at.Key.Family)
	if err != nil {
		return "", err
	}
	iss := issuerFrom(ctx) // the token request's
	if iss == "" {
		iss = p.issuerName() // IssueTokens called outside a request
	}
	if len(at.Audience) == 0 && p.cfg.Resource == "" && iss != "" {
		// RFC 9068 requires an aud; with no Config.Resource the default
		// is the issuer's. The record says the same, so introspection and
		// a store read answer what the token says.
		at.Audience = []string{p.defaultResource(iss)}
	}
	gen := at.Generation
	c := accessClaims{
		Iss:               iss,
		Sub:               at.UserID,
		Aud:               p.audience(at.Audience),
		Exp:               at.ExpiresAt.Unix(),
		Iat:               at.IssuedAt.Unix(),
		Jti:               jti,
		ClientID:          at.ClientID,
		Scope:             scope.Format(at.Scopes),
		PreferredUsername: at.Username,
		Gen:               &gen,
	}
	if c.Sub == "" {
		c.Sub = at.ClientID
	}
	if at.JKT != "" {
		c.Cnf = &confirmation{JKT: at.JKT}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	tok, err := p.keys.Sign(ctx, p.cfg.AccessTokenAlg, keyset.AccessTokenType, payload)
	if err != nil {
		return "", err
	}
	at.Key.Signature = opaque.Signature(tok)
	return tok, nil
}

// peekAccessJWT decodes a JWT access token's claims without checking its
// signature, and returns them with the token's family. The claims are the
// signed ones once keyset.VerifyAccessToken has accepted the token: a
// compact JWS signs exactly the payload segment decoded here.
func peekAccessJWT(token string) (*accessClaims, string, bool) {
	if len(token) > maxJWTAccessToken {
		return nil, "", false
	}
	_, rest, _ := strings.Cut(token, ".")
	seg, _, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, "", false
	}
	var c accessClaims
	if json.Unmarshal(payload, &c) != nil {
		return nil, "", false
	}
	family, ok := jtiFamily(c.Jti)
	if !ok || c.ClientID == "" || c.Sub == "" || c.Exp == 0 || c.Iat == 0 {
		return nil, "", false
	}
	return &c, family, true
}

// quickJTIFamily returns the family in the jti of a JWT access token this
// provider minted (whose payload starts with the jti, see accessClaims),
// decoding only the payload's first bytes: for a lookup in the validation
// cache, where a hit needs the whole token's SHA-256 to match, so a token
// cannot pass for another whatever this returns.
func quickJTIFamily(token string) (string, bool) {
	const head = `{"jti":"`
	const n = len(head) + opaque.FamilyLen + 1 // and the dot
	const encoded = (n*8 + 5) / 6              // base64 characters covering n bytes
	_, rest, _ := strings.Cut(token, ".")
	if len(rest) < encoded+4 {
		return "", false
	}
	var buf [n + 3]byte
	m, err := base64.RawURLEncoding.Decode(buf[:], []byte(rest[:encoded/4*4+4]))
	if err != nil || m < n || string(buf[:len(head)]) != head || buf[n-1] != '.' {
		return "", false
	}
	return string(buf[len(head) : n-1]), true
}

// tokenInfo is what a JWT access token grants, from its claims.
func (c *accessClaims) tokenInfo() *resource.TokenInfo {
	info := &resource.TokenInfo{
		ClientID:  c.ClientID,
		Username:  c.PreferredUsername,
		Audience:  c.Aud,
		IssuedAt:  time.Unix(c.Iat, 0).UTC(),
		ExpiresAt: time.Unix(c.Exp, 0).UTC(),
	}
	if c.Sub != c.ClientID {
		info.UserID = c.Sub
	}
	if c.Scope != "" {
		info.Scopes = strings.Fields(c.Scope)
	}
	if c.Cnf != nil {
		info.JKT = c.Cnf.JKT
	}
	return info
}

// validateJWT is Validate for a JWT access token. With fromStore the record
// is always read (introspection: the store's word, never the cache's).
func (p *Provider) validateJWT(ctx context.Context, token string, fromStore bool) (*resource.TokenInfo, error) {
	if p.keys == nil {
		return nil, errTokenInvalid
	}
	if len(token) > maxJWTAccessToken {
		return nil, errTokenInvalid
	}
	digest := opaque.Sum(token)
	cache := p.tokens
	if fromStore {
		cache = nil
	}
	var ticket tokencache.Ticket
	if cache != nil {
		// A hit is a token whose signature was checked before: the cache
		// is keyed by the SHA-256 of the whole JWT. The family only picks
		// where to look, so the quick scan is enough.
		if family, ok := quickJTIFamily(token); ok {
			if info, ok := cache.Get(family, digest); ok {
				p.observeValidation(observe.ValidationCacheHit)
				return info, nil
			}
		}
		ticket = cache.Ticket()
	}
	c, family, ok := peekAccessJWT(token)
	if !ok {
		return nil, errTokenInvalid
	}
	if !p.now().Before(time.Unix(c.Exp, 0)) {
		return nil, errTokenInvalid
	}
	if _, err := p.keys.VerifyAccessToken(ctx, token); err != nil {
		if errors.Is(err, keyset.ErrMalformed) || errors.Is(err, keyset.ErrUnknownKey) || errors.Is(err, keyset.ErrSignature) {
			return nil, errTokenInvalid
		}
		return nil, err // the key set could not be read: 503
	}
	if p.cfg.Issuer != "" && c.Iss != p.issuerName() {
		return nil, errTokenInvalid
	}
	if cache != nil && c.Gen != nil && cache.Trusted(family, c.ClientID, time.Unix(c.Iat, 0)) {
		// The application must still exist with the token's generation,
		// as on the store path; read through the application cache.
		if ok, err := p.currentApp(ctx, c.ClientID, *c.Gen); err != nil {
			return nil, err
		} else if !ok {
			return nil, errTokenInvalid
		}
		info := c.tokenInfo()
		p.observeValidation(observe.ValidationLocal)
		p.cache(ticket, family, digest, info)
		return info, nil
	}
	return p.validateStored(ctx, family, digest, ticket, cache != nil)
}

// issuerName is Config.Issuer as the provider publishes it.
func (p *Provider) issuerName() string { return strings.TrimRight(p.cfg.Issuer, "/") }
