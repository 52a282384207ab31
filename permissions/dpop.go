package permissions

import (
	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// errNotSenderConstrained answers a valid bearer token on a route that
// needs a DPoP-bound one (RFC 9449 section 7.1: invalid_token).
var errNotSenderConstrained = oautherr.ErrInvalidToken.WithDescription(
	"This resource requires a DPoP-bound access token.")

type tokenIsSenderConstrained struct{}

// TokenIsSenderConstrained allows a request whose valid token is bound to
// a key (RFC 9449: a DPoP-bound token, TokenInfo.JKT set), which the
// middleware accepts only with the DPoP scheme and a proof made with that
// key. A bearer token is answered 401 invalid_token (with a DPoP challenge
// when the middleware has DPoP on); a request without a valid token as
// every token guard answers it. Put it on a route group with Require:
//
//	payments.Use(permissions.Require(permissions.TokenIsSenderConstrained()))
func TokenIsSenderConstrained() Permission { return tokenIsSenderConstrained{} }

func (tokenIsSenderConstrained) Check(c *gin.Context) error {
	t, ok := validToken(c)
	if !ok {
		return needToken(c)
	}
	if t.JKT == "" {
		return errNotSenderConstrained
	}
	return nil
}

func (tokenIsSenderConstrained) String() string { return "TokenIsSenderConstrained" }
