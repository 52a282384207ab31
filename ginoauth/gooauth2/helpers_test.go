package gooauth2_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

func init() { gin.SetMode(gin.TestMode) }

// skipOnCluster skips a test of the TokenStore on Redis Cluster: its Lua
// scripts touch keys named in a record, in other slots (see TokenStore).
func skipOnCluster(t *testing.T) {
	t.Helper()
	if redistest.UsingCluster() {
		t.Skip("TokenStore does not run on Redis Cluster: its scripts touch keys in other slots")
	}
}

const (
	confID     = "conf-client"
	confSecret = "conf-secret-0123456789"
	pubID      = "pub-client"
)

// newApps returns a redisstore on a fresh Redis prefix holding a
// confidential and a public application, with the client and the prefix.
func newApps(t *testing.T) (*redisstore.Store, redis.UniversalClient, string) {
	t.Helper()
	client, prefix := redistest.Client(t)
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, app := range []*store.Application{
		{
			ClientID: confID, SecretHash: ginoauth.HashClientSecret(confSecret), Name: "conf",
			ClientType: store.Confidential, UserID: "owner-1",
			GrantTypes:   []string{store.GrantPassword, store.GrantClientCredentials, store.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example.com/cb", "https://app.example.com/other"},
		},
		{ClientID: pubID, Name: "pub", ClientType: store.Public, GrantTypes: []string{store.GrantPassword}},
	} {
		if err := st.CreateApplication(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	return st, client, prefix
}

// postForm posts a form, with HTTP Basic credentials when id is not empty,
// and returns the status and decoded JSON body.
func postForm(t *testing.T, u string, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return do(t, req)
}

// getBearer GETs u with a bearer token.
func getBearer(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("decoding %q: %v", b, err)
		}
	}
	return resp.StatusCode, body
}

// dump returns every key under prefix and every string value (nil for
// other types), to look for raw tokens.
func dump(t *testing.T, client redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	keys, err := redistest.Keys(ctx, client, prefix) // every master on a Cluster
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		typ, err := client.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			v, err := client.Get(ctx, k).Result()
			if err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			out[k] = v
		case "hash":
			m, err := client.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(m)
			out[k] = string(b)
		case "zset":
			m, err := client.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = strings.Join(m, " ")
		case "set":
			m, err := client.SMembers(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = strings.Join(m, " ")
		default:
			out[k] = ""
		}
	}
	return out
}

// assertNoRawTokens fails if any token appears in a key or a value under
// prefix.
func assertNoRawTokens(t *testing.T, client redis.UniversalClient, prefix string, tokens ...string) {
	t.Helper()
	kv := dump(t, client, prefix)
	if len(kv) == 0 {
		t.Fatalf("no keys under %q: the scan proves nothing", prefix)
	}
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		for k, v := range kv {
			if strings.Contains(k, tok) || strings.Contains(v, tok) {
				t.Errorf("raw token %.8s... stored in key %q (or its value)", tok, k)
			}
		}
	}
}
