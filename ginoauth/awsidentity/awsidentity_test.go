package awsidentity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/awsidentity"
	"github.com/ginoauth/toolkit/ginoauth/awsidentity/awsidentitytest"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

func init() { gin.SetMode(gin.TestMode) }

const (
	serverIDHeader = "X-Ginoauth-Server-ID"
	serverID       = "auth.example.com"
	clientIDHeader = "X-Ginoauth-Client-ID"
	getCaller      = "Action=GetCallerIdentity&Version=2011-06-15"
	// upstreamSecret is in every error answer of the fake STS: it must
	// never reach a client.
	upstreamSecret = "UPSTREAM-DETAIL-4f1c"
)

// The test identities, as the fake STS knows them.
var (
	roleCreds     = aws.Credentials{AccessKeyID: "ASIAROLEEXAMPLE", SecretAccessKey: "role-secret", SessionToken: "role-session-token"}
	ciCreds       = aws.Credentials{AccessKeyID: "AKIACIEXAMPLE", SecretAccessKey: "ci-secret"}
	strangerCreds = aws.Credentials{AccessKeyID: "AKIASTRANGER", SecretAccessKey: "stranger-secret"}
	retiredCreds  = aws.Credentials{AccessKeyID: "AKIARETIRED", SecretAccessKey: "retired-secret"}
	badCreds      = aws.Credentials{AccessKeyID: roleCreds.AccessKeyID, SecretAccessKey: "not-the-secret", SessionToken: roleCreds.SessionToken}

	identities = []awsidentitytest.Identity{
		identity(roleCreds, "arn:aws:sts::111122223333:assumed-role/deployer/session-1"),
		identity(ciCreds, "arn:aws:iam::111122223333:user/ci/builder"),
		identity(strangerCreds, "arn:aws:iam::444455556666:user/mallory"),
		identity(retiredCreds, "arn:aws:iam::111122223333:user/retired"),
	}

	mappings = []awsidentity.Mapping{
		{ARN: "arn:aws:iam::111122223333:role/deploy*", Username: "deploy", Scopes: []string{"read", "write"}},
		{Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/ci/*", Username: "ghost", Scopes: []string{"read"}},
		{ARN: "arn:aws:iam::111122223333:user/retired", Username: "retired", Scopes: []string{"read"}},
	}
)

// identity is the fake STS's record of creds, answering arn.
func identity(creds aws.Credentials, arn string) awsidentitytest.Identity {
	return awsidentitytest.Identity{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
		ARN: arn, Account: strings.Split(arn, ":")[4],
	}
}

// fakeSTS is a local STS (awsidentitytest.STS, which checks the SigV4
// signature with the SDK's signer) that counts its calls and can be told
// to misbehave.
type fakeSTS struct {
	srv      *httptest.Server
	hits     atomic.Int64
	status   int           // answer this status instead, with an error body
	redirect string        // with a 3xx status: the Location
	body     string        // answer this body with 200 instead
	delay    time.Duration // wait this long first
	extra    []awsidentitytest.Identity
}

func newFakeSTS(t *testing.T, f *fakeSTS) *fakeSTS {
	sts := &awsidentitytest.STS{Identities: append(slices.Clone(identities), f.extra...), ErrorMessage: upstreamSecret}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.redirect != "":
			http.Redirect(w, r, f.redirect, f.status)
		case f.status != 0:
			awsidentitytest.Fail(w, f.status, "InternalFailure", upstreamSecret)
		case f.body != "":
			io.WriteString(w, f.body)
		default:
			sts.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signing describes the request a client signs; the zero value's fields
// are filled by sign with a correct request.
type signing struct {
	creds      aws.Credentials
	region     string // the region parameter
	signRegion string // the credential scope's region
	service    string
	host       string
	body       string
	serverID   string
	unsigned   bool // send the server-ID header outside the signature
	noServerID bool
	at         time.Time
	stringJSON bool                // headers_json values as strings, not lists
	edit       func(h http.Header) // after signing
	clientID   string              // the X-Ginoauth-Client-ID header to sign, if any
	same       bool                // no X-Test-Nonce (see sign)
}

// sign builds an aws_identity token request as a client does: it signs a
// GetCallerIdentity request with the AWS SDK's SigV4 signer and sends its
// headers as headers_json.
func sign(t *testing.T, s signing) url.Values {
	t.Helper()
	if s.creds.AccessKeyID == "" {
		s.creds = roleCreds
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.signRegion == "" {
		s.signRegion = "us-east-1"
	}
	if s.service == "" {
		s.service = "sts"
	}
	if s.host == "" {
		s.host = "sts." + s.signRegion + ".amazonaws.com"
		if strings.HasPrefix(s.signRegion, "cn-") {
			s.host += ".cn"
		}
	}
	if s.body == "" {
		s.body = getCaller
	}
	if s.serverID == "" {
		s.serverID = serverID
	}
	if s.at.IsZero() {
		s.at = time.Now()
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+s.host+"/", strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if !s.noServerID && !s.unsigned {
		req.Header.Set(serverIDHeader, s.serverID)
	}
	if s.clientID != "" {
		req.Header.Set(clientIDHeader, s.clientID)
	}
	if !s.same {
		// Each signed request unique, as two a second apart are: the
		// server accepts each signature once.
		req.Header.Set("X-Test-Nonce", rand.Text())
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), s.creds, req, sha256Hex([]byte(s.body)), s.service, s.signRegion, s.at); err != nil {
		t.Fatal(err)
	}
	h := req.Header.Clone()
	h.Set("Host", req.URL.Host)
	h.Set("User-Agent", "aws-cli/2 test") // unsigned, as the CLI's
	if s.unsigned {
		h.Set(serverIDHeader, s.serverID)
	}
	if s.edit != nil {
		s.edit(h)
	}
	var raw []byte
	if s.stringJSON {
		flat := map[string]string{}
		for k, v := range h {
			flat[k] = v[0]
		}
		raw, _ = json.Marshal(flat)
	} else {
		raw, _ = json.Marshal(h)
	}
	return url.Values{"grant_type": {"aws_identity"}, "region": {s.region}, "post_body": {s.body}, "headers_json": {string(raw)}}
}

// env is a provider with the aws_identity grant, a fake STS, a
// confidential client allowed the grant, and the local user "deploy".
type env struct {
	t        *testing.T
	p        *ginoauth.Provider
	srv      *httptest.Server
	sts      *fakeSTS
	id, sec  string
	pubID    string
	logs     *bytes.Buffer
	identity awsidentity.Config
}

func newEnv(t *testing.T, kind string, sts *fakeSTS, mod func(*awsidentity.Config)) *env {
	t.Helper()
	if sts == nil {
		sts = &fakeSTS{}
	}
	e := &env{t: t, sts: newFakeSTS(t, sts), logs: &bytes.Buffer{}}
	cfg := awsidentity.Config{
		ServerIDHeader: serverIDHeader,
		ServerID:       serverID,
		Mappings:       mappings,
		HTTPClient:     awsidentitytest.Client(e.sts.srv.URL),
		Logger:         slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := awsidentity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store = memstore.New()
	if kind == "redis" {
		client, prefix := redistest.Client(t)
		if st, err = redisstore.New(client, redisstore.WithPrefix(prefix)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store:         st,
		SecretKey:     []byte("0123456789abcdef0123456789abcdef"),
		Scopes:        map[string]string{"read": "Read", "write": "Write", "admin": "Admin"},
		DefaultScopes: []string{"read", "write"},
		GrantTypes:    []ginoauth.GrantType{g},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	ctx := context.Background()
	for _, u := range []*store.User{
		{ID: "u-deploy", Username: "deploy", IsActive: true},
		{ID: "u-retired", Username: "retired", IsActive: false},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{Name: "ci", ClientType: store.Confidential, GrantTypes: []string{awsidentity.GrantType}})
	if err != nil {
		t.Fatal(err)
	}
	e.id, e.sec = app.ClientID, secret
	pub, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{Name: "pub", ClientType: store.Public, GrantTypes: []string{awsidentity.GrantType}})
	if err != nil {
		t.Fatal(err)
	}
	e.pubID = pub.ClientID
	r := gin.New()
	p.Mount(r)
	r.GET("/api/whoami", p.Middleware(), func(c *gin.Context) {
		tok, ok := resource.TokenFromContext(c)
		if !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.JSON(200, gin.H{"user": tok.Username, "scope": scope.Format(tok.Scopes)})
	})
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

// lockedWriter serialises the log writes of concurrent requests.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		e.t.Fatalf("not JSON: %q", raw)
	}
	return a
}

// token posts form to the token endpoint with the confidential client's
// credentials.
func (e *env) token(form url.Values) answer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.id, e.sec)
	return e.do(req)
}

func (e *env) whoami(token string) answer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return e.do(req)
}

func TestIssuesToken(t *testing.T) {
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, nil, nil)
			a := e.token(sign(t, signing{}))
			if a.status != 200 || a.str("scope") != "read write" || a.str("access_token") == "" {
				t.Fatalf("aws_identity: %d %v", a.status, a.body)
			}
			if _, ok := a.body["refresh_token"]; ok {
				t.Fatalf("a refresh token was issued by default: %v", a.body)
			}
			if w := e.whoami(a.str("access_token")); w.status != 200 || w.str("user") != "deploy" || w.str("scope") != "read write" {
				t.Fatalf("the token at the middleware: %d %v", w.status, w.body)
			}
			// A requested scope within the mapping's ceiling; header values
			// as plain strings; the body's parameters in the other order
			// (forwarded byte for byte, as they were signed).
			f := sign(t, signing{stringJSON: true, body: "Version=2011-06-15&Action=GetCallerIdentity"})
			f.Set("scope", "read")
			if a := e.token(f); a.status != 200 || a.str("scope") != "read" {
				t.Fatalf("scope=read: %d %v", a.status, a.body)
			}
			if got := e.sts.hits.Load(); got != 2 {
				t.Fatalf("STS was called %d times, want 2", got)
			}
			for _, secret := range []string{roleCreds.SecretAccessKey, roleCreds.SessionToken, "Signature="} {
				if strings.Contains(e.logs.String(), secret) {
					t.Fatalf("the log holds %q:\n%s", secret, e.logs)
				}
			}
		})
	}
}

func TestRefreshTokenOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, func(c *awsidentity.Config) { c.IssueRefreshToken = true })
	if a := e.token(sign(t, signing{})); a.status != 200 || a.str("refresh_token") == "" {
		t.Fatalf("IssueRefreshToken: %d %v", a.status, a.body)
	}
}

func TestPublicClientRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, nil)
	f := sign(t, signing{})
	f.Set("client_id", e.pubID)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/o/token/", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a := e.do(req); a.status != 400 || a.str("error") != "unauthorized_client" {
		t.Fatalf("public client: %d %v", a.status, a.body)
	}
	if e.sts.hits.Load() != 0 {
		t.Fatal("STS was called for a public client")
	}
}

// TestRefused: every malformed, hostile or misdirected request is refused,
// and those the server can judge by itself never reach STS.
func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, nil)
	withRegion := func(r string) func(url.Values) { return func(f url.Values) { f.Set("region", r) } }
	for _, tc := range []struct {
		name   string
		s      signing
		form   func(url.Values)
		status int
		code   string
		toSTS  bool
	}{
		{name: "region with a host", form: withRegion("us-east-1.evil.com"), status: 400, code: "invalid_request"},
		{name: "region with a path", form: withRegion("us-east-1/../"), status: 400, code: "invalid_request"},
		{name: "region in upper case", form: withRegion("US-EAST-1"), status: 400, code: "invalid_request"},
		{name: "region with a port", form: withRegion("us-east-1:443"), status: 400, code: "invalid_request"},
		{name: "region with userinfo", form: withRegion("evil.com@us-east-1"), status: 400, code: "invalid_request"},
		{name: "not a region", form: withRegion("evil"), status: 400, code: "invalid_request"},
		{name: "unicode region", form: withRegion("us-\u0435ast-1"), status: 400, code: "invalid_request"},
		{name: "region with a newline", form: withRegion("us-east-1\n"), status: 400, code: "invalid_request"},
		{name: "missing region", form: func(f url.Values) { f.Del("region") }, status: 400, code: "invalid_request"},
		{name: "missing headers_json", form: func(f url.Values) { f.Del("headers_json") }, status: 400, code: "invalid_request"},
		{name: "region other than signed", form: withRegion("us-west-2"), status: 400, code: "invalid_grant"},
		// The Host is the region's, but the credential scope names another
		// region: the check of the scope's region alone refuses it.
		{name: "scope of another region than Host's", s: signing{region: "us-west-2", host: "sts.us-west-2.amazonaws.com", signRegion: "us-east-1"}, status: 400, code: "invalid_grant"},
		{name: "scope of another region than Host's (China)", s: signing{region: "cn-north-1", host: "sts.cn-north-1.amazonaws.com.cn", signRegion: "cn-northwest-1"}, status: 400, code: "invalid_grant"},
		{name: "signed Content-Length other than post_body's", s: signing{edit: func(h http.Header) { h.Set("Content-Length", "999") }}, status: 400, code: "invalid_grant"},
		{name: "signed Content-Length twice", s: signing{edit: func(h http.Header) { h["Content-Length"] = []string{"43", "43"} }}, status: 400, code: "invalid_grant"},
		{name: "wrong Action", s: signing{body: "Action=AssumeRole&Version=2011-06-15"}, status: 400, code: "invalid_grant"},
		{name: "extra parameter", s: signing{body: getCaller + "&RoleArn=x"}, status: 400, code: "invalid_grant"},
		{name: "encoded parameter", s: signing{body: "Action=GetCallerIdentity&Version=2011%2D06%2D15"}, status: 400, code: "invalid_grant"},
		{name: "post_body other than signed", form: func(f url.Values) { f.Set("post_body", "Version=2011-06-15&Action=GetCallerIdentity") }, status: 400, code: "invalid_grant", toSTS: true},
		{name: "missing server-ID header", s: signing{noServerID: true}, status: 400, code: "invalid_grant"},
		{name: "server-ID header not signed", s: signing{unsigned: true}, status: 400, code: "invalid_grant"},
		{name: "wrong server-ID", s: signing{serverID: "other.example.com"}, status: 400, code: "invalid_grant"},
		{name: "server-ID twice", s: signing{edit: func(h http.Header) { h.Add(serverIDHeader, serverID) }}, status: 400, code: "invalid_grant"},
		{name: "global STS host", s: signing{host: "sts.amazonaws.com"}, status: 400, code: "invalid_grant"},
		{name: "host of another server", s: signing{host: "sts.us-east-1.amazonaws.com.evil.com"}, status: 400, code: "invalid_grant"},
		{name: "no Host header", s: signing{edit: func(h http.Header) { h.Del("Host") }}, status: 400, code: "invalid_grant"},
		{name: "stale X-Amz-Date", s: signing{at: time.Now().Add(-time.Hour)}, status: 400, code: "invalid_grant"},
		{name: "future X-Amz-Date", s: signing{at: time.Now().Add(time.Hour)}, status: 400, code: "invalid_grant"},
		{name: "signed for sqs", s: signing{service: "sqs", host: "sts.us-east-1.amazonaws.com"}, status: 400, code: "invalid_grant"},
		{name: "not SigV4", s: signing{edit: func(h http.Header) { h.Set("Authorization", "Bearer abc") }}, status: 400, code: "invalid_grant"},
		{name: "no Authorization", s: signing{edit: func(h http.Header) { h.Del("Authorization") }}, status: 400, code: "invalid_grant"},
		{name: "signed header missing", s: signing{edit: func(h http.Header) { h.Del("X-Amz-Security-Token") }}, status: 400, code: "invalid_grant"},
		{name: "hop-by-hop header signed", s: signing{edit: func(h http.Header) {
			h.Set("Authorization", strings.Replace(h.Get("Authorization"), "SignedHeaders=", "SignedHeaders=connection;", 1))
			h.Set("Connection", "close")
		}}, status: 400, code: "invalid_grant"},
		{name: "huge headers_json", s: signing{edit: func(h http.Header) { h.Set("X-Padding", strings.Repeat("a", 20<<10)) }}, status: 400, code: "invalid_request"},
		{name: "headers_json not an object", form: func(f url.Values) { f.Set("headers_json", `["Host"]`) }, status: 400, code: "invalid_request"},
		{name: "headers_json with a number", form: func(f url.Values) { f.Set("headers_json", `{"Host": 1}`) }, status: 400, code: "invalid_request"},
		{name: "headers_json with a header twice", s: signing{edit: func(h http.Header) { h["host"] = []string{"sts.us-east-1.amazonaws.com"} }}, status: 400, code: "invalid_request"},
		{name: "header value with CRLF", s: signing{edit: func(h http.Header) { h.Set("X-Evil", "a\r\nHost: evil") }}, status: 400, code: "invalid_request"},
		{name: "STS rejects the signature", s: signing{creds: badCreds}, status: 400, code: "invalid_grant", toSTS: true},
		{name: "unknown AWS key", s: signing{creds: aws.Credentials{AccessKeyID: "AKIANOBODY", SecretAccessKey: "x"}}, status: 400, code: "invalid_grant", toSTS: true},
		{name: "unmapped ARN", s: signing{creds: strangerCreds}, status: 400, code: "invalid_grant", toSTS: true},
		{name: "unknown local user", s: signing{creds: ciCreds}, status: 400, code: "invalid_grant", toSTS: true},
		{name: "inactive local user", s: signing{creds: retiredCreds}, status: 400, code: "invalid_grant", toSTS: true},
		{name: "scope above the mapping", form: func(f url.Values) { f.Set("scope", "admin") }, status: 400, code: "invalid_scope", toSTS: true},
		{name: "unknown scope", form: func(f url.Values) { f.Set("scope", "nope") }, status: 400, code: "invalid_scope", toSTS: true},
	} {
		f := sign(t, tc.s)
		if tc.form != nil {
			tc.form(f)
		}
		before := e.sts.hits.Load()
		a := e.token(f)
		if a.status != tc.status || a.str("error") != tc.code {
			t.Errorf("%s: %d %v; want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
		if d := a.str("error_description"); d == "" || strings.ContainsFunc(d, notInDescriptionSet) {
			t.Errorf("%s: error_description %q is not RFC 6749 5.2's", tc.name, d)
		}
		if strings.Contains(a.raw, upstreamSecret) || strings.Contains(a.raw, "role-secret") {
			t.Errorf("%s: the answer repeats upstream or secret content: %s", tc.name, a.raw)
		}
		if hit := e.sts.hits.Load() != before; hit != tc.toSTS {
			t.Errorf("%s: reached STS: %v, want %v", tc.name, hit, tc.toSTS)
		}
	}
}

// TestSTSFailures: STS trouble answers 503, never 500, never its content.
func TestSTSFailures(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, tc := range []struct {
		name string
		sts  *fakeSTS
		mod  func(*awsidentity.Config)
	}{
		{"STS error", &fakeSTS{status: 500}, nil},
		{"STS throttles", &fakeSTS{status: 429}, nil},
		{"STS down", nil, func(c *awsidentity.Config) { c.HTTPClient = awsidentitytest.Client(down.URL) }},
		{"STS slow", &fakeSTS{delay: 2 * time.Second}, func(c *awsidentity.Config) { c.Timeout = 100 * time.Millisecond }},
		{"STS answers garbage", &fakeSTS{body: "<html>" + upstreamSecret + "</html>"}, nil},
		{"STS answers a foreign ARN", &fakeSTS{body: `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/x</Arn><Account>999999999999</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "memory", tc.sts, tc.mod)
			start := time.Now()
			a := e.token(sign(t, signing{}))
			if a.status != 503 || a.str("error") != "temporarily_unavailable" || a.header.Get("Retry-After") == "" {
				t.Fatalf("%d %v", a.status, a.body)
			}
			if strings.Contains(a.raw, upstreamSecret) {
				t.Fatalf("the answer repeats upstream content: %s", a.raw)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestAllowedRegions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, func(c *awsidentity.Config) { c.AllowedRegions = []string{"eu-west-1"} })
	if a := e.token(sign(t, signing{})); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("a region outside AllowedRegions: %d %v", a.status, a.body)
	}
	if a := e.token(sign(t, signing{region: "eu-west-1", signRegion: "eu-west-1"})); a.status != 200 {
		t.Fatalf("an allowed region: %d %v", a.status, a.body)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ok := awsidentity.Config{ServerIDHeader: serverIDHeader, ServerID: serverID, Mappings: mappings}
	if g, err := awsidentity.New(ok); err != nil || g.Name != "aws_identity" || g.PublicClients || g.AnyClient {
		t.Fatalf("New(ok) = %+v, %v", g, err)
	}
	for name, mod := range map[string]func(*awsidentity.Config){
		"no server-ID header":    func(c *awsidentity.Config) { c.ServerIDHeader = "" },
		"server-ID header Host":  func(c *awsidentity.Config) { c.ServerIDHeader = "Host" },
		"server-ID header x-amz": func(c *awsidentity.Config) { c.ServerIDHeader = "X-Amz-Date" },
		"bad header name":        func(c *awsidentity.Config) { c.ServerIDHeader = "X Server" },
		"no server ID":           func(c *awsidentity.Config) { c.ServerID = "" },
		"no mappings":            func(c *awsidentity.Config) { c.Mappings = nil },
		"mapping matches anyone": func(c *awsidentity.Config) {
			c.Mappings = []awsidentity.Mapping{{Username: "x", Scopes: []string{"read"}}}
		},
		"mapping bad account": func(c *awsidentity.Config) {
			c.Mappings = []awsidentity.Mapping{{Account: "12", Username: "x", Scopes: []string{"read"}}}
		},
		"mapping bad ARN": func(c *awsidentity.Config) {
			c.Mappings = []awsidentity.Mapping{{ARN: "role/x", Username: "x", Scopes: []string{"read"}}}
		},
		"mapping no user": func(c *awsidentity.Config) {
			c.Mappings = []awsidentity.Mapping{{Account: "111122223333", Scopes: []string{"read"}}}
		},
		"mapping no scopes": func(c *awsidentity.Config) {
			c.Mappings = []awsidentity.Mapping{{Account: "111122223333", Username: "x"}}
		},
		"bad allowed region":                       func(c *awsidentity.Config) { c.AllowedRegions = []string{"evil.com"} },
		"negative timeout":                         func(c *awsidentity.Config) { c.Timeout = -1 },
		"negative future skew":                     func(c *awsidentity.Config) { c.MaxFutureSkew = -1 },
		"client-ID header x-amz":                   func(c *awsidentity.Config) { c.ClientIDHeader = "X-Amz-Client" },
		"client-ID header Content-Length":          func(c *awsidentity.Config) { c.ClientIDHeader = "Content-Length" },
		"client-ID header is the server-ID header": func(c *awsidentity.Config) { c.ClientIDHeader = strings.ToLower(serverIDHeader) },
		"bad client-ID header name":                func(c *awsidentity.Config) { c.ClientIDHeader = "Client ID" },
	} {
		c := ok
		mod(&c)
		if _, err := awsidentity.New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// notInDescriptionSet reports whether r may not appear in an
// error_description (RFC 6749 section 5.2: %x20-21 / %x23-5B / %x5D-7E).
func notInDescriptionSet(r rune) bool {
	return r < 0x20 || r > 0x7e || r == '"' || r == '\\'
}

// TestMappingARNPatterns: a mapping's ARN pattern may widen only its
// resource part; whatever could reach another account (or can never match)
// is refused by New, with an error that says why.
func TestMappingARNPatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		account, arn string
		err          string // "" for accepted
	}{
		{"", "arn:aws:iam::111122223333:role/deployer", ""},
		{"", "arn:aws:iam::111122223333:role/*", ""},
		{"", "arn:aws:iam::111122223333:*", ""},
		{"", "arn:aws:iam::111122223333:user/ci/*", ""},
		{"", "arn:aws-cn:iam::111122223333:role/x", ""},
		{"", "arn:aws-us-gov:iam::111122223333:role/x", ""},
		{"111122223333", "arn:aws:iam::111122223333:role/x", ""},
		{"", "arn:aws:iam::*:role/x", "not a wildcard"},
		{"", "arn:aws:iam::1111222233*:role/x", "not a wildcard"},
		{"111122223333", "arn:aws:iam::*:role/x", "not a wildcard"},
		{"", "arn:aws:iam::11112222333:role/x", "12-digit"},
		{"", "arn:aws:iam:::role/x", "12-digit"},
		{"111122223333", "arn:aws:iam::444455556666:role/x", "another account"},
		{"", "arn:*:iam::111122223333:role/x", "partition"},
		{"", "arn:aws-iso:iam::111122223333:role/x", "partition"},
		{"", "arn:aws:sts::111122223333:assumed-role/deployer/*", "not the assumed-role session"},
		{"", "arn:aws:*::111122223333:role/x", "IAM principal"},
		{"", "arn:aws:iam:us-east-1:111122223333:role/x", "IAM principal"},
		{"", "arn:aws:iam::111122223333:", "principal ARN pattern"},
		{"", "arn:aws:iam::111122223333:role:x", "principal ARN pattern"},
		{"", "role/x", "principal ARN pattern"},
	} {
		c := awsidentity.Config{ServerIDHeader: serverIDHeader, ServerID: serverID, Mappings: []awsidentity.Mapping{
			{Account: tc.account, ARN: tc.arn, Username: "x", Scopes: []string{"read"}},
		}}
		_, err := awsidentity.New(c)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q (Account %q): %v", tc.arn, tc.account, err)
		case tc.err != "" && err == nil:
			t.Errorf("%q (Account %q): New accepted it", tc.arn, tc.account)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%q (Account %q): %v; want an error about %q", tc.arn, tc.account, err, tc.err)
		}
	}
}

// TestAccepted: the well-formed variants a client may send are accepted,
// so that the refusals of TestRefused are the checks' doing.
func TestAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, nil)
	for _, tc := range []struct {
		name string
		s    signing
	}{
		{"us-east-1", signing{}},
		{"another region", signing{region: "us-west-2", signRegion: "us-west-2"}},
		{"signed Content-Length as post_body's", signing{edit: func(h http.Header) { h.Set("Content-Length", fmt.Sprint(len(getCaller))) }}},
		{"unsigned headers dropped", signing{edit: func(h http.Header) { h.Set("X-Forwarded-For", "10.0.0.1") }}},
	} {
		if a := e.token(sign(t, tc.s)); a.status != 200 || a.str("access_token") == "" {
			t.Errorf("%s: %d %v", tc.name, a.status, a.body)
		}
	}
}

// TestCredentialScopeDate: the credential scope's date must be
// X-Amz-Date's, even when both are within the allowed skew (here, around
// midnight UTC); such a request never reaches STS.
func TestCredentialScopeDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 0, 5, 0, 0, time.UTC)
	e := newEnv(t, "memory", nil, func(c *awsidentity.Config) { c.Now = func() time.Time { return now } })
	setDate := func(d string) func(http.Header) { return func(h http.Header) { h.Set("X-Amz-Date", d) } }
	for _, tc := range []struct {
		name  string
		s     signing
		ok    bool
		toSTS bool
	}{
		{name: "signed before midnight", s: signing{at: now.Add(-7 * time.Minute)}, ok: true, toSTS: true},
		{name: "signed after midnight", s: signing{at: now.Add(-time.Minute)}, ok: true, toSTS: true},
		{name: "X-Amz-Date the next day", s: signing{at: now.Add(-7 * time.Minute), edit: setDate("20300102T000000Z")}},
		{name: "X-Amz-Date the day before", s: signing{at: now.Add(-time.Minute), edit: setDate("20300101T235900Z")}},
		{name: "scope of the day before", s: signing{at: now.Add(-time.Minute), edit: func(h http.Header) {
			h.Set("Authorization", strings.Replace(h.Get("Authorization"), "/20300102/", "/20300101/", 1))
		}}},
	} {
		before := e.sts.hits.Load()
		a := e.token(sign(t, tc.s))
		if tc.ok && a.status != 200 || !tc.ok && (a.status != 400 || a.str("error") != "invalid_grant") {
			t.Errorf("%s: %d %v", tc.name, a.status, a.body)
		}
		if hit := e.sts.hits.Load() != before; hit != tc.toSTS {
			t.Errorf("%s: reached STS: %v, want %v", tc.name, hit, tc.toSTS)
		}
	}
}

// TestPartition: an ARN STS answers must be of the partition of the region
// the request was sent to; any other answer is not trusted (503).
func TestPartition(t *testing.T) {
	t.Parallel()
	creds := map[string]aws.Credentials{
		"aws":        {AccessKeyID: "AKIAPARTAWS", SecretAccessKey: "s1"},
		"aws-cn":     {AccessKeyID: "AKIAPARTCN", SecretAccessKey: "s2"},
		"aws-us-gov": {AccessKeyID: "AKIAPARTGOV", SecretAccessKey: "s3"},
	}
	var extra []awsidentitytest.Identity
	for p, c := range creds {
		extra = append(extra, identity(c, "arn:"+p+":sts::111122223333:assumed-role/deployer/s"))
	}
	// A mapping by account only, which any partition's ARN would match.
	e := newEnv(t, "memory", &fakeSTS{extra: extra}, func(c *awsidentity.Config) {
		c.Mappings = []awsidentity.Mapping{{Account: "111122223333", Username: "deploy", Scopes: []string{"read"}}}
	})
	for _, tc := range []struct {
		region, partition string
		status            int
	}{
		{"us-east-1", "aws", 200},
		{"us-east-1", "aws-cn", 503},
		{"us-east-1", "aws-us-gov", 503},
		{"cn-north-1", "aws-cn", 200},
		{"cn-north-1", "aws", 503},
		{"us-gov-west-1", "aws-us-gov", 200},
		{"us-gov-west-1", "aws", 503},
	} {
		a := e.token(sign(t, signing{creds: creds[tc.partition], region: tc.region, signRegion: tc.region}))
		if a.status != tc.status || tc.status == 503 && a.str("error") != "temporarily_unavailable" {
			t.Errorf("%s answering an %s ARN: %d %v, want %d", tc.region, tc.partition, a.status, a.body, tc.status)
		}
	}
}

// TestAssumedRoleSessionName: the session name of an assumed role is the
// caller's choice, so mappings see arn:aws:iam::ACCOUNT:role/NAME, never
// the session.
func TestAssumedRoleSessionName(t *testing.T) {
	t.Parallel()
	admin := aws.Credentials{AccessKeyID: "ASIAADMINSESSION", SecretAccessKey: "s"}
	extra := []awsidentitytest.Identity{identity(admin, "arn:aws:sts::111122223333:assumed-role/deployer/admin")}
	m := func(arn, user string) awsidentity.Mapping {
		return awsidentity.Mapping{ARN: arn, Username: user, Scopes: []string{"read"}}
	}
	for _, tc := range []struct {
		name     string
		mappings []awsidentity.Mapping
		user     string // "" for refused
	}{
		{"the role's ARN", []awsidentity.Mapping{m("arn:aws:iam::111122223333:role/deployer", "deploy")}, "deploy"},
		{"a pattern on the role name", []awsidentity.Mapping{m("arn:aws:iam::111122223333:role/*er", "deploy")}, "deploy"},
		{"the role and session", []awsidentity.Mapping{m("arn:aws:iam::111122223333:role/deployer/admin", "deploy")}, ""},
		{"a pattern on the session", []awsidentity.Mapping{m("arn:aws:iam::111122223333:role/*/admin", "deploy")}, ""},
		{"a session mapping first", []awsidentity.Mapping{
			m("arn:aws:iam::111122223333:role/deployer/admin*", "retired"), m("arn:aws:iam::111122223333:role/deployer", "deploy"),
		}, "deploy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "memory", &fakeSTS{extra: extra}, func(c *awsidentity.Config) { c.Mappings = tc.mappings })
			a := e.token(sign(t, signing{creds: admin}))
			if tc.user == "" {
				if a.status != 400 || a.str("error") != "invalid_grant" {
					t.Fatalf("%d %v, want invalid_grant", a.status, a.body)
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("%d %v", a.status, a.body)
			}
			if w := e.whoami(a.str("access_token")); w.str("user") != tc.user {
				t.Fatalf("token for %q, want %q", w.str("user"), tc.user)
			}
		})
	}
}

// TestRedirectsNotFollowed: an STS answer that redirects is an outage
// (503), and the redirect is not followed, whatever the HTTPClient's
// CheckRedirect says: the second STS, which would vouch for the caller, is
// never asked.
func TestRedirectsNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, follows := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/CheckRedirect follows %v", status, follows), func(t *testing.T) {
				t.Parallel()
				var reached atomic.Int64
				second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reached.Add(1)
					awsidentitytest.Answer(w, identities[0].ARN, identities[0].Account)
				}))
				t.Cleanup(second.Close)
				first := &fakeSTS{status: status, redirect: second.URL + "/"}
				e := newEnv(t, "memory", first, func(c *awsidentity.Config) {
					if follows {
						c.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
					}
				})
				a := e.token(sign(t, signing{}))
				if a.status != 503 || a.str("error") != "temporarily_unavailable" {
					t.Errorf("%d %v, want 503", a.status, a.body)
				}
				if first.hits.Load() != 1 || reached.Load() != 0 {
					t.Errorf("STS asked %d times, the redirect's target %d times; want 1 and 0", first.hits.Load(), reached.Load())
				}
			})
		}
	}
}

// TestSignedRequestUsedOnce: a signed request gets a token once, on any
// instance sharing the store; its replays, one after the other or
// concurrent, are refused with invalid_grant, and only one reaches STS.
func TestSignedRequestUsedOnce(t *testing.T) {
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, nil, nil)
			f := sign(t, signing{})
			if a := e.token(f); a.status != 200 {
				t.Fatalf("first use: got %d %v, want 200", a.status, a.body)
			}
			if a := e.token(f); a.status != 400 || a.str("error") != "invalid_grant" {
				t.Errorf("replay: got %d %v, want 400 invalid_grant", a.status, a.body)
			}
			f = sign(t, signing{})
			var ok atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/o/token/", strings.NewReader(f.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(e.id, e.sec)
					res, err := e.srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					if res.StatusCode == 200 {
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			if got := ok.Load(); got != 1 {
				t.Errorf("8 concurrent uses of one signed request: got %d tokens, want 1", got)
			}
			if got := e.sts.hits.Load(); got != 2 {
				t.Errorf("STS calls: got %d, want 2 (one per signed request)", got)
			}
		})
	}
}

// TestSigningTime: X-Amz-Date may be up to MaxClockSkew old but only
// MaxFutureSkew ahead.
func TestSigningTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, nil)
	for _, tc := range []struct {
		name string
		at   time.Duration
		want int
	}{
		{"now", 0, 200},
		{"14 minutes old", -14 * time.Minute, 200},
		{"16 minutes old", -16 * time.Minute, 400},
		{"30 s ahead", 30 * time.Second, 200},
		{"5 minutes ahead", 5 * time.Minute, 400},
		{"14 minutes ahead", 14 * time.Minute, 400},
	} {
		a := e.token(sign(t, signing{at: time.Now().Add(tc.at)}))
		if a.status != tc.want || (tc.want == 400 && a.str("error") != "invalid_grant") {
			t.Errorf("%s: got %d %v, want %d", tc.name, a.status, a.body, tc.want)
		}
	}
}

// TestClientIDBinding: with ClientIDHeader set, a signed request names its
// client inside the signature, and no other client can use it.
func TestClientIDBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil, func(c *awsidentity.Config) { c.ClientIDHeader = clientIDHeader })
	unsignedClientID := func(id string) func(http.Header) {
		return func(h http.Header) { h.Set(clientIDHeader, id) }
	}
	for _, tc := range []struct {
		name string
		s    func() signing
		want int
	}{
		{"this client", func() signing { return signing{clientID: e.id} }, 200},
		{"no client ID header", func() signing { return signing{} }, 400},
		{"another client", func() signing { return signing{clientID: "someone-else"} }, 400},
		{"header outside the signature", func() signing { return signing{edit: unsignedClientID(e.id)} }, 400},
		{"header twice", func() signing {
			return signing{clientID: e.id, edit: func(h http.Header) { h.Add(clientIDHeader, e.id) }}
		}, 400},
	} {
		a := e.token(sign(t, tc.s()))
		if a.status != tc.want || (tc.want == 400 && a.str("error") != "invalid_grant") {
			t.Errorf("%s: got %d %v, want %d", tc.name, a.status, a.body, tc.want)
		}
	}
}
