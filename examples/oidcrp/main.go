// Command oidcrp is a Gin web app that signs its users in with OpenID
// Connect at a ginoauth provider, with github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2: the relying party of docs/oidc.md.
//
//	OIDC_ISSUER=http://127.0.0.1:8000 OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=... \
//	    go run ./examples/oidcrp
//
// It keeps the sign-in's state, nonce and PKCE verifier in cookies; a real
// application keeps them in its (signed) session.
package main

import (
	"context"
	"crypto/rand"
	"log"
	"net/http"
	"os"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"
)

func main() {
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, os.Getenv("OIDC_ISSUER")) // discovery
	if err != nil {
		log.Fatal(err)
	}
	conf := oauth2.Config{
		ClientID:     os.Getenv("OIDC_CLIENT_ID"),
		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
		Endpoint:     provider.Endpoint(),
		RedirectURL:  "http://127.0.0.1:9000/callback",
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: conf.ClientID})

	r := gin.Default()
	r.GET("/login", func(c *gin.Context) {
		state, nonce, pkce := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
		for name, v := range map[string]string{"state": state, "nonce": nonce, "pkce": pkce} {
			c.SetCookie(name, v, 600, "/", "", false, true)
		}
		c.Redirect(http.StatusFound, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)))
	})
	r.GET("/callback", func(c *gin.Context) {
		state, _ := c.Cookie("state")
		nonce, _ := c.Cookie("nonce")
		pkce, _ := c.Cookie("pkce")
		if state == "" || c.Query("state") != state {
			c.String(http.StatusBadRequest, "state mismatch")
			return
		}
		tok, err := conf.Exchange(c, c.Query("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			c.String(http.StatusBadGateway, "exchange: %v", err)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(c, raw) // signature, iss, aud, exp
		if err != nil || idt.Nonce != nonce {
			c.String(http.StatusUnauthorized, "bad id_token: %v", err)
			return
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			c.String(http.StatusBadGateway, "claims: %v", err)
			return
		}
		info, err := provider.UserInfo(c, oauth2.StaticTokenSource(tok))
		if err != nil {
			c.String(http.StatusBadGateway, "userinfo: %v", err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"id_token": claims, "userinfo_email": info.Email})
	})
	log.Fatal(r.Run("127.0.0.1:9000"))
}
