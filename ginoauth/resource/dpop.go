package resource

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// DPoPOptions configures DPoP-bound tokens (RFC 9449 section 7) in the
// middleware. With DPoP on, a request may present its token as
// "Authorization: DPoP <token>" with a proof in the DPoP header: the
// proof must be valid for this request (method, URL, the token's hash)
// and made with the key the token is bound to (TokenInfo.JKT). Whether on
// or off, a DPoP-bound token presented as Bearer is refused (section 7.2).
type DPoPOptions struct {
	// Enabled turns DPoP on, with a verifier built from Config (which
	// must name asymmetric algorithms only). Its Replay nil means a
	// dpop.MemoryReplay: per instance, so a proof replayed to another
	// instance behind the same load balancer is not recognised; give a
	// shared one (a redisstore.Store) when there are several.
	Enabled bool
	Config  dpop.Config
	// Verifier, when set, is used instead of one built from Config (and
	// turns DPoP on): Provider.Middleware passes the provider's, whose
	// replay records are in its store.
	Verifier *dpop.Verifier
	// BaseURL is the scheme and authority clients reach this server at,
	// such as "https://api.example.com" behind a proxy that terminates
	// TLS: a proof's htu is compared with it and the request's path.
	// Empty means the request's: https with TLS, else http, and its Host.
	BaseURL string
}

// verifier returns the options' verifier, nil when DPoP is off.
func (o DPoPOptions) verifier() *dpop.Verifier {
	if o.Verifier != nil {
		return o.Verifier
	}
	if !o.Enabled {
		return nil
	}
	cfg := o.Config
	if cfg.Replay == nil {
		cfg.Replay = dpop.NewMemoryReplay(0)
	}
	v, err := dpop.New(cfg)
	if err != nil {
		panic("resource: DPoPOptions: " + err.Error())
	}
	return v
}

// The middleware's DPoP refusals (RFC 9449 section 7.1): 401 with a DPoP
// challenge.
var (
	errInvalidDPoPProof = &oautherr.Error{Code: dpop.CodeInvalidProof, Status: http.StatusUnauthorized}
	errUseDPoPNonce     = &oautherr.Error{Code: dpop.CodeUseNonce, Status: http.StatusUnauthorized}
	errBoundAsBearer    = oautherr.ErrInvalidToken.WithDescription("The access token is DPoP-bound: present it with the DPoP scheme and a proof.")
	errNotBound         = oautherr.ErrInvalidToken.WithDescription("The access token is not DPoP-bound: present it with the Bearer scheme.")
	errWrongKey         = oautherr.ErrInvalidToken.WithDescription("The DPoP proof's key is not the one the access token is bound to.")
)

// ParseDPoP extracts the token from an Authorization header value with the
// DPoP scheme (RFC 9449 section 7.1; the scheme matched without regard to
// case), as ParseBearer does for Bearer: "" and nil for another scheme, an
// invalid_request error for a missing or malformed token.
func ParseDPoP(header string) (string, error) {
	return parseScheme(header, "DPoP")
}

// tokenFromDPoPHeader finds a token sent with the DPoP scheme in the one
// Authorization header (TokenFromHeader refuses two).
func tokenFromDPoPHeader(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", nil
	}
	return ParseDPoP(h[0])
}

// requestURL is the URL a client used for r, without query, for htu.
func (a *authenticator) requestURL(r *http.Request) string {
	base := a.dpopBase
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + r.URL.EscapedPath()
}

// dpopState is what the middleware records for AbortWithError: DPoP is
// on (algs, for challenges) and whether this request used the DPoP scheme.
type dpopState struct {
	algs   string
	scheme bool
}

func dpopFromContext(c *gin.Context) (dpopState, bool) {
	v, ok := c.Get(dpopKey)
	if !ok {
		return dpopState{}, false
	}
	s, ok := v.(*dpopState)
	if !ok || s == nil {
		return dpopState{}, false
	}
	return *s, true
}

// UsedDPoP reports whether the request presented its token with the DPoP
// scheme (and so is answered with DPoP challenges).
func UsedDPoP(c *gin.Context) bool {
	s, _ := dpopFromContext(c)
	return s.scheme
}

// dpopChallenge renders RFC 9449 section 7.1's challenge.
func dpopChallenge(realm string, algs string, e *oautherr.Error) string {
	var b strings.Builder
	b.WriteString(`DPoP realm="`)
	b.WriteString(quoted(realm))
	b.WriteByte('"')
	if e != nil && e.Code != oautherr.ErrNotAuthenticated.Code {
		b.WriteString(`, error="`)
		b.WriteString(quoted(e.Code))
		b.WriteByte('"')
		if d := e.SentDescription(); d != "" {
			b.WriteString(`, error_description="`)
			b.WriteString(d)
			b.WriteByte('"')
		}
		if len(e.Scope) > 0 {
			b.WriteString(`, scope="`)
			b.WriteString(quoted(strings.Join(e.Scope, " ")))
			b.WriteByte('"')
		}
	}
	b.WriteString(`, algs="`)
	b.WriteString(algs)
	b.WriteByte('"')
	return b.String()
}

// quoted keeps the characters allowed in a quoted attribute value.
func quoted(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
