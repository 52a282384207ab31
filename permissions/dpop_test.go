package permissions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/permissions"
)

// boundValidator knows two tokens: "bound", DPoP-bound to jkt, and
// "bearer".
type boundValidator struct{ jkt string }

func (v boundValidator) Validate(_ context.Context, tok string) (*resource.TokenInfo, error) {
	switch tok {
	case "bound":
		return &resource.TokenInfo{ClientID: "c", Scopes: []string{"read"}, JKT: v.jkt}, nil
	case "bearer":
		return &resource.TokenInfo{ClientID: "c", Scopes: []string{"read"}}, nil
	}
	return nil, oautherr.ErrInvalidToken
}

// TestTokenIsSenderConstrained: through the middleware with DPoP on (an
// in-memory replay check, as a remote-introspection API has), the guard
// lets a DPoP-bound token with its proof in and answers a bearer token, or
// none, 401 with a DPoP challenge.
func TestTokenIsSenderConstrained(t *testing.T) {
	key := dpoptest.NewKey(jose.ES256)
	r := gin.New()
	r.Use(resource.Authenticate(boundValidator{jkt: key.JKT()}, resource.Options{
		DPoP: resource.DPoPOptions{Enabled: true, Config: dpop.Config{Replay: dpop.NewMemoryReplay(10)}},
	}))
	g := r.Group("/pay", permissions.Require(permissions.TokenIsSenderConstrained()))
	g.GET("/x", func(c *gin.Context) { c.String(200, "ok") })
	srv := httptest.NewServer(r)
	defer srv.Close()
	u := srv.URL + "/pay/x"
	for _, tc := range []struct {
		name, auth, proof string
		status            int
		code              string
	}{
		{"bound token with its proof", "DPoP bound", key.Proof("GET", u, "bound", ""), 200, ""},
		{"bearer token", "Bearer bearer", "", 401, "invalid_token"},
		{"no token", "", "", 401, "not_authenticated"},
		{"bound token as Bearer", "Bearer bound", "", 401, "invalid_token"},
	} {
		req, _ := http.NewRequest("GET", u, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		if tc.proof != "" {
			req.Header.Set("DPoP", tc.proof)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != tc.status || body.Error != tc.code {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, res.StatusCode, body.Error, tc.status, tc.code)
		}
		if tc.status == 401 {
			ch := strings.Join(res.Header.Values("WWW-Authenticate"), " | ")
			if !strings.Contains(ch, `DPoP realm="api"`) || !strings.Contains(ch, `algs="`) {
				t.Errorf("%s: WWW-Authenticate = %q, want a DPoP challenge", tc.name, ch)
			}
		}
	}
	if got := permissions.TokenIsSenderConstrained().String(); got != "TokenIsSenderConstrained" {
		t.Errorf("String() = %q", got)
	}
}
