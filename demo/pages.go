package main

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

// siteTemplates are the demo's HTML pages: the login and logout forms and the
// demo client's. The consent page is ginoauth's.
var siteTemplates = template.Must(template.New("pages").Parse(`
{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.}} · ginoauth demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
label{display:block;margin-top:.75rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
button,.button{margin-top:1rem;padding:.5rem 1rem;font-size:1rem}.error{color:#a00}code{background:#eee;padding:0 .2rem}</style>
</head><body>{{end}}
{{define "bottom"}}</body></html>
{{end}}

{{define "login"}}{{template "top" "Sign in"}}
<h1>Sign in</h1>
{{if .User}}<p id="signed-in">You are signed in as <strong>{{.User}}</strong>; signing in again replaces that session.</p>{{end}}
{{if .Error}}<p id="error" class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/accounts/login/">
<input type="hidden" name="{{.CSRFField}}" value="{{.CSRFToken}}">
<input type="hidden" name="next" value="{{.Next}}">
<label for="id_username">Username</label>
<input type="text" name="username" id="id_username" value="{{.Username}}" autocomplete="username" autocapitalize="none" required autofocus>
<label for="id_password">Password</label>
<input type="password" name="password" id="id_password" autocomplete="current-password" required>
<button type="submit" id="login">Sign in</button>
</form>
{{template "bottom"}}{{end}}

{{define "logout"}}{{template "top" "Sign out"}}
{{if .Done}}<h1>Signed out</h1>
<p id="signed-out">You have been signed out. <a href="/accounts/login/">Sign in again</a>.</p>
{{else}}<h1>Sign out</h1>
{{if .User}}<p>Signed in as <strong>{{.User}}</strong>.</p>{{else}}<p>You are not signed in.</p>{{end}}
<form method="post" action="/accounts/logout/">
<input type="hidden" name="{{.CSRFField}}" value="{{.CSRFToken}}">
<button type="submit" id="logout">Sign out</button>
</form>{{end}}
{{template "bottom"}}{{end}}

{{define "message"}}{{template "top" .Title}}
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{template "bottom"}}{{end}}

{{define "client"}}{{template "top" "Demo client"}}
<h1>Demo client</h1>
<p>A web application that uses the ginoauth provider, as the client of Django OAuth
Toolkit's tutorial: a public client (<code>{{.ClientID}}</code>) using the
authorization code grant with PKCE (S256).</p>
{{if .TokenPrefix}}<p id="signed-in">Signed in to the client, with an access token starting <code>{{.TokenPrefix}}</code>
(scope <code>{{.Scope}}</code>). <a id="me" href="{{.Base}}/client/me">Show who I am</a>.</p>{{end}}
<p><a id="signin" class="button" href="{{.Base}}/client/start">Sign in with ginoauth</a></p>
{{template "bottom"}}{{end}}

{{define "client-result"}}{{template "top" "Signed in"}}
<h1>Demo client</h1>
<p id="result">Token exchange succeeded</p>
<p>Granted scope: <code id="scope">{{.Scope}}</code></p>
<p>Access token: <code id="token-prefix">{{.TokenPrefix}}…</code> (the client keeps it in its session; only its start is shown)</p>
<p><a id="me" href="{{.Base}}/client/me">Call /user_details/ with the token</a></p>
{{template "bottom"}}{{end}}

{{define "client-error"}}{{template "top" "Sign-in failed"}}
<h1>Sign-in failed</h1>
<p id="error" class="error"><code>{{.Error}}</code></p>
<p id="error_description">{{.Description}}</p>
<p><a id="again" href="{{.Base}}/client/">Back to the demo client</a></p>
{{template "bottom"}}{{end}}

{{define "client-me"}}{{template "top" "Who am I"}}
<h1>Demo client: /user_details/</h1>
<p>The client called <code>GET /user_details/</code> with its access token. You are
<strong id="username">{{.Username}}</strong>{{if .Email}} (<span id="email">{{.Email}}</span>){{end}}.</p>
<p><a href="{{.Base}}/client/">Back to the demo client</a></p>
{{template "bottom"}}{{end}}
`))

// page renders one of pages with the headers every demo page gets: not
// cached, not framed, no referrer (the client's callback URL holds a code)
// and a content security policy that allows only inline styles and forms
// posting to this site.
func (a *app) page(c *gin.Context, status int, name string, data any) {
	var b bytes.Buffer
	if err := siteTemplates.ExecuteTemplate(&b, name, data); err != nil {
		a.log.ErrorContext(c.Request.Context(), "rendering a page", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("The page could not be rendered."))
		return
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// messagePage renders a page with a title and a message.
func (a *app) messagePage(c *gin.Context, status int, title, message string) {
	a.page(c, status, "message", struct{ Title, Message string }{title, message})
}
