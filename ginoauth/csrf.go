package ginoauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// CSRFField is the form field that carries the CSRF token, named as
// Django's.
const CSRFField = "csrfmiddlewaretoken"

const csrfCookie = "ginoauth_csrf"

// CSRFToken returns the token a form must post back in CSRFField for
// CheckCSRF to accept it, setting the CSRF cookie if the browser has none
// (a double-submit token, bound to the cookie and to owner: a token from
// another browser or another user's session does not pass). Forms of the
// application's own, such as its login page, may use it too.
func (p *Provider) CSRFToken(c *gin.Context, owner string) string {
	secret, err := c.Cookie(csrfCookie)
	if err != nil || len(secret) < 32 {
		// A cookie set earlier in this request is reused: two would
		// overwrite each other.
		if set, ok := c.Get(csrfCookie); ok {
			secret, _ = set.(string)
			return p.csrfMAC(secret, owner)
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(c.Writer, &http.Cookie{
			Name: csrfCookie, Value: secret, Path: "/", HttpOnly: true,
			Secure: c.Request.TLS != nil || p.cfg.CSRFCookieSecure, SameSite: http.SameSiteLaxMode,
		})
		c.Set(csrfCookie, secret)
	}
	return p.csrfMAC(secret, owner)
}

// maxFormBody bounds a form body that ginoauth parses itself: the CSRF
// check's and the authorization endpoint's.
const maxFormBody = 64 << 10

// CheckCSRF reports whether a POST carries the CSRF token CSRFToken gave
// for the same browser and owner, and, when the browser sent an Origin
// header, that it is the request's own origin.
//
// It reads the token from a form body only: one the handler already
// parsed, or else an application/x-www-form-urlencoded or
// multipart/form-data body of at most 64 KiB (read through
// http.MaxBytesReader, so a larger body is refused after 64 KiB, not read
// to its end). Any other body is not read, and fails the check.
func (p *Provider) CheckCSRF(c *gin.Context, owner string) bool {
	return p.CheckCSRFToken(c, owner, csrfFormValue(c))
}

// csrfFormValue returns the CSRF field of the request's form, reading at
// most maxFormBody of the body to find it.
func csrfFormValue(c *gin.Context) string {
	r := c.Request
	if r.MultipartForm != nil {
		if v := r.MultipartForm.Value[CSRFField]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.PostForm != nil && ct != "multipart/form-data" {
		return r.PostForm.Get(CSRFField)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	switch ct {
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			return ""
		}
		return r.PostForm.Get(CSRFField)
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBody)
		if err := r.ParseMultipartForm(maxFormBody); err != nil {
			return ""
		}
		if v := r.MultipartForm.Value[CSRFField]; len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// CheckCSRFToken is CheckCSRF for a token that came some other way, such
// as an X-CSRFToken header on an API request authenticated by a session.
func (p *Provider) CheckCSRFToken(c *gin.Context, owner, token string) bool {
	if o := c.Request.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != c.Request.Host {
			return false
		}
	}
	secret, err := c.Cookie(csrfCookie)
	if err != nil || len(secret) < 32 {
		return false
	}
	return hmac.Equal([]byte(token), []byte(p.csrfMAC(secret, owner)))
}

func (p *Provider) csrfMAC(secret, owner string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(secret))
	m.Write([]byte{0})
	m.Write([]byte(owner))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
