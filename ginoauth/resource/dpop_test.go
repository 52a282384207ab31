package resource_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

func TestParseDPoP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
		err          error
	}{
		{"DPoP abc", "abc", nil},
		{"dpop abc==", "abc==", nil},
		{"Bearer abc", "", nil},
		{"DPoPabc", "", nil},
		{"DPoP", "", oautherr.ErrInvalidRequest},
		{"DPoP a b", "", oautherr.ErrInvalidRequest},
	} {
		got, err := resource.ParseDPoP(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("ParseDPoP(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseDPoP(f *testing.F) {
	for _, s := range []string{"DPoP abc", "dpop x==", "Bearer a", "DPoP", "DPoP a b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := resource.ParseDPoP(h)
		if err != nil && tok != "" {
			t.Fatalf("token %q with error %v", tok, err)
		}
		if tok != "" && (strings.ContainsAny(tok, " \t\r\n\"\\,") || !strings.HasSuffix(h, tok)) {
			t.Fatalf("ParseDPoP(%q) accepted %q", h, tok)
		}
	})
}

// jktValidator answers every token as bound to jkt.
type jktValidator struct{ jkt string }

func (v jktValidator) Validate(context.Context, string) (*resource.TokenInfo, error) {
	return &resource.TokenInfo{ClientID: "c", JKT: v.jkt}, nil
}

// TestDPoPBaseURL: htu is checked against DPoPOptions.BaseURL when set
// (a server behind a TLS-terminating proxy), else against the request's
// scheme and Host; DPoP off leaves the DPoP scheme unrecognised.
func TestDPoPBaseURL(t *testing.T) {
	t.Parallel()
	key := dpoptest.NewKey(jose.ES256)
	serve := func(opts resource.Options) *httptest.Server {
		r := gin.New()
		r.GET("/api/x", resource.Authenticate(jktValidator{key.JKT()}, opts), func(c *gin.Context) {
			if _, ok := resource.TokenFromContext(c); ok {
				c.String(200, "token")
				return
			}
			if err := resource.AuthErrorFromContext(c); err != nil {
				resource.AbortWithError(c, err)
				return
			}
			c.String(200, "anonymous")
		})
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv
	}
	on := resource.DPoPOptions{Enabled: true}
	behindProxy := on
	behindProxy.BaseURL = "https://api.example.com/"
	direct, proxied, off := serve(resource.Options{DPoP: on}), serve(resource.Options{DPoP: behindProxy}), serve(resource.Options{})
	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		htu    string
		status int
		body   string
	}{
		{"request's URL", direct, direct.URL + "/api/x", 200, "token"},
		{"another host", direct, "https://api.example.com/api/x", 401, ""},
		{"configured base URL", proxied, "https://api.example.com/api/x", 200, "token"},
		{"request's URL behind the proxy", proxied, proxied.URL + "/api/x", 401, ""},
		{"DPoP off: anonymous", off, off.URL + "/api/x", 200, "anonymous"},
	} {
		req, _ := http.NewRequest("GET", tc.srv.URL+"/api/x", nil)
		req.Header.Set("Authorization", "DPoP tok")
		req.Header.Set("DPoP", key.Proof("GET", tc.htu, "tok", ""))
		res, err := tc.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := res.Body.Read(buf)
		res.Body.Close()
		if res.StatusCode != tc.status || (tc.body != "" && string(buf[:n]) != tc.body) {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, res.StatusCode, buf[:n], tc.status, tc.body)
		}
		if tc.status == 401 && !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
			t.Errorf("%s: WWW-Authenticate = %q, want invalid_dpop_proof", tc.name, res.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestMemoryReplay: a key is new once until it expires; a full cache of
// live keys refuses with an error rather than forget one.
func TestMemoryReplay(t *testing.T) {
	t.Parallel()
	m := dpop.NewMemoryReplay(2)
	ctx := context.Background()
	exp := timeNowPlus()
	for i, want := range []bool{true, false} {
		if got, err := m.FirstUse(ctx, "a", exp); got != want || err != nil {
			t.Errorf("FirstUse(a) #%d = %v, %v; want %v, nil", i, got, err, want)
		}
	}
	if got, err := m.FirstUse(ctx, "b", exp); !got || err != nil {
		t.Errorf("FirstUse(b) = %v, %v; want true, nil", got, err)
	}
	if _, err := m.FirstUse(ctx, "c", exp); err == nil {
		t.Error("FirstUse(c) on a full cache: nil error, want one")
	}
}

func timeNowPlus() time.Time { return time.Now().Add(time.Minute) }
