package ginoauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// benchServer is a gin engine serving one handler twice: /open with no
// authentication (the baseline) and /protected behind the middleware, so
// the ratio of the two is the middleware's cost.
func benchServer(b *testing.B, kind string) (*gin.Engine, string) {
	b.Helper()
	return benchServerWith(b, ginoauth.Config{Store: newStore(b, kind), SecretKey: testKey})
}

// benchServerWith is benchServer on a provider configured with cfg; it
// waits for a validation cache (cfg.ValidationCache) to go live.
func benchServerWith(b *testing.B, cfg ginoauth.Config) (*gin.Engine, string) {
	b.Helper()
	p, err := ginoauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	for deadline := time.Now().Add(5 * time.Second); cfg.ValidationCache && !p.ValidationCacheLive(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Skip("the validation cache did not go live (no real Redis?)")
		}
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	hello := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"hello": "world"}) }
	r.GET("/open", hello)
	r.GET("/protected", p.Middleware(), func(c *gin.Context) {
		if _, ok := resource.TokenFromContext(c); !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		hello(c)
	})
	req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(app.ClientID, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return r, tok.AccessToken
}

func benchGET(b *testing.B, r *gin.Engine, path, token string) {
	b.ReportAllocs()
	b.SetParallelism(8) // many requests in flight, as a server has

	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for pb.Next() {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
		}
	})
}

// BenchmarkGET compares a GET with no authentication against the same
// handler behind the middleware, on each store. docs/benchmarks.md
// reports the ratios.
func BenchmarkGET(b *testing.B) {
	for _, kind := range storeKinds {
		r, token := benchServer(b, kind)
		b.Run(kind+"/open", func(b *testing.B) { benchGET(b, r, "/open", "") })
		b.Run(kind+"/protected", func(b *testing.B) { benchGET(b, r, "/protected", token) })
	}
}

// BenchmarkGETCached is BenchmarkGET's protected GET with the validation
// cache on (Redis only: the cache needs the invalidation channel), against
// the same handler with no authentication.
func BenchmarkGETCached(b *testing.B) {
	r, token := benchServerWith(b, ginoauth.Config{Store: newStore(b, "redis"), SecretKey: testKey, ValidationCache: true})
	b.Run("open", func(b *testing.B) { benchGET(b, r, "/open", "") })
	b.Run("protected", func(b *testing.B) { benchGET(b, r, "/protected", token) })
}

// BenchmarkTokenClientCredentials measures the token endpoint.
func BenchmarkTokenClientCredentials(b *testing.B) {
	for _, kind := range storeKinds {
		b.Run(kind, func(b *testing.B) {
			benchClientCredentials(b, ginoauth.Config{Store: newStore(b, kind), SecretKey: testKey})
		})
	}
}

// benchClientCredentials runs client_credentials token requests against a
// provider configured with cfg.
func benchClientCredentials(b *testing.B, cfg ginoauth.Config) {
	p, err := ginoauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
			req.SetBasicAuth(app.ClientID, secret)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkTokenRefresh measures the refresh_token grant: each goroutine
// chains its own grant, presenting the refresh token the previous answer
// carried, as wrk's refresh.lua does.
func BenchmarkTokenRefresh(b *testing.B) {
	for _, kind := range storeKinds {
		b.Run(kind, func(b *testing.B) {
			st := newStore(b, kind)
			p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey, // the default lifetimes
				PasswordAttempts: ginoauth.AttemptLimit{Limit: -1}}) // every goroutine logs alice in at once
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
				ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword},
			})
			if err != nil {
				b.Fatal(err)
			}
			hash, err := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
			if err != nil {
				b.Fatal(err)
			}
			if err := st.CreateUser(ctx, &store.User{ID: "alice", Username: "alice", PasswordHash: string(hash), IsActive: true}); err != nil {
				b.Fatal(err)
			}
			r := gin.New()
			p.Mount(r)
			post := func(form string) (string, int) {
				req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form))
				req.SetBasicAuth(app.ClientID, secret)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				var tok struct {
					RefreshToken string `json:"refresh_token"`
				}
				_ = jsonDecode(w.Body.Bytes(), &tok)
				return tok.RefreshToken, w.Code
			}
			// One grant per goroutine, minted before the clock starts.
			const parallelism = 8
			grants := make(chan string, parallelism*runtime.GOMAXPROCS(0))
			for range cap(grants) {
				rt, code := post("grant_type=password&username=alice&password=wonderland")
				if code != http.StatusOK {
					b.Fatalf("password grant: %d", code)
				}
				grants <- rt
			}
			b.ReportAllocs()
			b.SetParallelism(parallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rt := <-grants
				defer func() { grants <- rt }()
				for pb.Next() {
					var code int
					if rt, code = post("grant_type=refresh_token&refresh_token=" + rt); code != http.StatusOK {
						b.Errorf("refresh: %d", code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGETJWT is BenchmarkGETCached with a JWT access token (RFC
// 9068): the first request verifies its signature, the rest are answered
// by the validation cache, against the same handler with no
// authentication. BenchmarkVerifyAccessToken (internal/keyset) measures a
// first sight's signature check.
func BenchmarkGETJWT(b *testing.B) {
	r, token := benchServerWith(b, ginoauth.Config{Store: newStore(b, "redis"), SecretKey: testKey, ValidationCache: true, AccessTokenFormat: store.TokenFormatJWT})
	if !strings.HasPrefix(token, "eyJ") {
		b.Fatalf("token %.8s...: want a JWT", token)
	}
	b.Run("open", func(b *testing.B) { benchGET(b, r, "/open", "") })
	b.Run("protected", func(b *testing.B) { benchGET(b, r, "/protected", token) })
}

// BenchmarkTokenJWT measures the client_credentials token endpoint on
// Redis answering opaque tokens and JWT access tokens signed with RS256
// and ES256: the signature is the difference.
func BenchmarkTokenJWT(b *testing.B) {
	for _, tc := range []struct{ name, format, alg string }{
		{"opaque", "", ""}, {"RS256", store.TokenFormatJWT, "RS256"}, {"ES256", store.TokenFormatJWT, "ES256"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchClientCredentials(b, ginoauth.Config{Store: newStore(b, "redis"), SecretKey: testKey, AccessTokenFormat: tc.format, AccessTokenAlg: tc.alg})
		})
	}
}
