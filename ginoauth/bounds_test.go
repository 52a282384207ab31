package ginoauth_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
)

// countingBody is a request body made on demand, which counts the bytes
// the server reads of it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// repeated is an endless reader of one byte.
type repeated byte

func (r repeated) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// bigBody is head, then n bytes of 'a', then tail, counted as read.
func bigBody(head string, n int64, tail string) *countingBody {
	return &countingBody{r: io.MultiReader(strings.NewReader(head), io.LimitReader(repeated('a'), n), strings.NewReader(tail))}
}

// bigMultipart is a multipart/form-data body with one file part of n bytes
// and no CSRF field.
func bigMultipart(n int64) (*countingBody, string) {
	const boundary = "ginoauthtestboundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	return bigBody(head, n, "\r\n--"+boundary+"--\r\n"), "multipart/form-data; boundary=" + boundary
}

const maxRead = 1 << 20

// TestCheckCSRFBoundsTheBody: an application's own form handler (a login
// page, as the demo's) that calls CheckCSRF on a huge multipart POST with
// the CSRF cookie but no token gets false after reading at most 64 KiB,
// not the whole body (which Go would spool to temporary files); a small
// form with the token still passes, urlencoded or multipart.
func TestCheckCSRFBoundsTheBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	r := gin.New()
	r.GET("/login", func(c *gin.Context) { c.String(200, e.p.CSRFToken(c, "")) })
	r.POST("/login", func(c *gin.Context) {
		if !e.p.CheckCSRF(c, "") {
			c.String(http.StatusForbidden, "csrf")
			return
		}
		c.String(200, "ok")
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	token := rec.Body.String()
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("GET /login: %d cookies, want 1 (the CSRF cookie)", len(cookies))
	}
	post := func(body io.Reader, contentType string) int {
		req := httptest.NewRequest("POST", "/login", body)
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}

	body, ct := bigMultipart(50 << 20)
	status := post(body, ct)
	if status != http.StatusForbidden && status != http.StatusRequestEntityTooLarge {
		t.Errorf("50 MiB multipart POST without a token: status = %d, want 403 or 413", status)
	}
	if got := body.read.Load(); got >= maxRead {
		t.Errorf("50 MiB multipart POST without a token: read %d bytes of the body, want < %d", got, maxRead)
	}
	big := bigBody("x=", 50<<20, "&"+ginoauth.CSRFField+"="+token)
	if status := post(big, "application/x-www-form-urlencoded"); status != http.StatusForbidden {
		t.Errorf("50 MiB urlencoded POST: status = %d, want 403", status)
	}
	if got := big.read.Load(); got >= maxRead {
		t.Errorf("50 MiB urlencoded POST: read %d bytes of the body, want < %d", got, maxRead)
	}
	if status := post(strings.NewReader(ginoauth.CSRFField+"="+token), "application/x-www-form-urlencoded"); status != 200 {
		t.Errorf("small urlencoded POST with the token: status = %d, want 200", status)
	}
	var mp bytes.Buffer
	mp.WriteString("--b\r\nContent-Disposition: form-data; name=\"" + ginoauth.CSRFField + "\"\r\n\r\n" + token + "\r\n--b--\r\n")
	if status := post(&mp, "multipart/form-data; boundary=b"); status != 200 {
		t.Errorf("small multipart POST with the token: status = %d, want 200", status)
	}
	if status := post(strings.NewReader(`{"`+ginoauth.CSRFField+`":"`+token+`"}`), "application/json"); status != http.StatusForbidden {
		t.Errorf("JSON POST with the token in the body: status = %d, want 403 (only forms are read)", status)
	}
}

// TestAuthorizeBoundsTheForm: a consent POST of 50 MiB to the
// authorization endpoint, from a logged-in browser, is refused with 413
// after at most 64 KiB of it is read.
func TestAuthorizeBoundsTheForm(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	r := gin.New()
	ce.p.Mount(r)
	for _, path := range []string{"/o/authorize/", "/o/authorize"} {
		body := bigBody("client_id="+ce.webID+"&response_type=code&pad=", 50<<20, "")
		req := httptest.NewRequest("POST", path, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "test_user", Value: "u1.alice"})
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s of 50 MiB: status = %d, want 413", path, rec.Code)
		}
		if got := body.read.Load(); got >= maxRead {
			t.Errorf("POST %s of 50 MiB: read %d bytes of the body, want < %d", path, got, maxRead)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			t.Errorf("POST %s of 50 MiB: redirected to %q, want an error page", path, loc)
		}
	}
}
