package manage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/exchange"
	"github.com/ginoauth/toolkit/ginoauth/manage"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

func newCLI(t *testing.T) (*manage.CLI, *ginoauth.Provider, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	p, err := ginoauth.New(ginoauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	var extra string
	cli := &manage.CLI{
		Open:   func(context.Context) (*ginoauth.Provider, error) { return p, nil },
		Flags:  func(fs *flag.FlagSet) { fs.StringVar(&extra, "redis", "", "Redis URL") },
		Stdout: &out, Stderr: &errb,
	}
	return cli, p, &out, &errb
}

func TestCreateApplicationJSON(t *testing.T) {
	t.Parallel()
	cli, p, out, _ := newCLI(t)
	// Flags after the positional arguments work too.
	err := cli.Run(context.Background(), []string{"createapplication", "--name", "svc", "confidential", "client-credentials,password", "--json", "--redis", "x"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got map[string]string
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got["client_id"] == "" || got["client_secret"] == "" {
		t.Fatalf("--json printed %q", out.String())
	}
	app, err := p.Store().GetApplication(context.Background(), got["client_id"])
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "svc" || app.ClientType != store.Confidential || !app.AllowsGrant("client_credentials") || !app.AllowsGrant("password") {
		t.Fatalf("stored %+v", app)
	}
	if app.SecretHash == got["client_secret"] || app.SecretHash != ginoauth.HashClientSecret(got["client_secret"]) {
		t.Fatal("the secret is not stored as its hash")
	}
}

// TestCreateApplicationExchangeGrants: convert-token and token-exchange
// name package exchange's grant types, for a provider that has them.
func TestCreateApplicationExchangeGrants(t *testing.T) {
	t.Parallel()
	grants, err := exchange.GrantTypes(exchange.Config{Backends: []exchange.Backend{{Name: "up", UserDetailsURL: "https://up.example/me", AnyClient: true}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{GrantTypes: grants})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cli := &manage.CLI{Open: func(context.Context) (*ginoauth.Provider, error) { return p, nil }, Stdout: &out, Stderr: &errb}
	if err := cli.Run(context.Background(), []string{"createapplication", "--json", "confidential", "password,convert-token,token-exchange"}); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	app, err := p.Store().GetApplication(context.Background(), got["client_id"])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{store.GrantPassword, exchange.GrantConvertToken, exchange.GrantTokenExchange}
	if !slices.Equal(app.GrantTypes, want) {
		t.Fatalf("grant types %q, want %q", app.GrantTypes, want)
	}

	// A provider without them refuses them, saying so.
	cli, _, out2, _ := newCLI(t)
	err = cli.Run(context.Background(), []string{"createapplication", "confidential", "password,convert-token"})
	if err == nil || errors.Is(err, manage.ErrUsage) || !strings.Contains(err.Error(), "convert_token is not enabled") || out2.Len() != 0 {
		t.Fatalf("convert-token without the exchange grants: %v, stdout %q", err, out2.String())
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	cli, p, out, _ := newCLI(t)
	ctx := context.Background()
	if err := cli.Run(ctx, []string{"createuser", "--username", "bob", "--password", "s3cret"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"bob"`) || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("output %q", out.String())
	}
	if _, err := (ginoauth.StoreUsers{Users: p.Store()}).Authenticate(ctx, "bob", "s3cret"); err != nil {
		t.Fatalf("bob cannot log in: %v", err)
	}
	if err := cli.Run(ctx, []string{"createuser", "--username", "bob", "--password", "x"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate user: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"nope"},
		{"createapplication"},
		{"createapplication", "secret", "password"},
		{"createapplication", "public", "implicit"},
		{"createapplication", "public", "password", "extra"},
		{"createapplication", "--bogus", "public", "password"},
		{"createapplication", "--scopes", "a\tb", "public", "password"},
		{"createuser", "--username", "x"},
		{"createuser", "--password", "x"},
		{"listapplications", "extra"},
		{"listapplications", "--bogus"},
		{"deleteapplication"},
		{"deleteapplication", ""},
		{"deleteapplication", "a", "b"},
		{"revoketokens"},
		{"revoketokens", "--user", "alice", "extra"},
		{"revoketokens", "--client-id"},
	} {
		cli, _, out, errb := newCLI(t)
		err := cli.Run(context.Background(), args)
		if !errors.Is(err, manage.ErrUsage) || errb.Len() == 0 || out.Len() != 0 {
			t.Errorf("%q: err=%v stderr=%q stdout=%q", args, err, errb.String(), out.String())
		}
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"createapplication", "public", "client-credentials"}, // RFC 6749 4.4
		{"createapplication", "public", "authorization-code"}, // needs a redirect URI
		{"createapplication", "--redirect-uris", "http://evil.example/cb", "public", "authorization-code"},
		{"createapplication", "--scopes", "nope", "confidential", "password"},
		{"createapplication", "--user", "ghost", "confidential", "password"},
		{"createuser", "--username", "bad name", "--password", "x"},
		{"listapplications", "--user", "ghost"},
		{"deleteapplication", "nope"},
		{"revoketokens", "--user", "ghost"},
	} {
		cli, _, out, _ := newCLI(t)
		err := cli.Run(context.Background(), args)
		if err == nil || errors.Is(err, manage.ErrUsage) || out.Len() != 0 {
			t.Errorf("%q: err=%v stdout=%q", args, err, out.String())
		}
	}
}

func init() { gin.SetMode(gin.TestMode) }

// issue gets a client_credentials token, or with username a password
// token, from p's token endpoint.
func issue(t *testing.T, p *ginoauth.Provider, clientID, secret, username string) string {
	t.Helper()
	r := gin.New()
	p.Mount(r)
	form := url.Values{"grant_type": {"client_credentials"}}
	if username != "" {
		form = url.Values{"grant_type": {"password"}, "username": {username}, "password": {"pw"}}
	}
	req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil {
		t.Fatalf("token: %d %s", w.Code, w.Body.String())
	}
	return body.AccessToken
}

// setup makes users alice and bob and three applications: two of alice's
// and an unowned one, each allowed the password and client_credentials
// grants. It returns their client ids and secrets.
func setup(t *testing.T, cli *manage.CLI, p *ginoauth.Provider, out *bytes.Buffer) (ids, secrets []string) {
	t.Helper()
	ctx := context.Background()
	// createuser's bcrypt cost is tested in TestCreateUser; the lowest
	// cost keeps these tests fast.
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := p.Store().CreateUser(ctx, &store.User{ID: "id-" + u, Username: u, PasswordHash: string(hash), IsActive: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"--user", "alice", "--name", "one"},
		{"--user", "alice", "--name", "two"},
		{"--name", "unowned"},
	} {
		out.Reset()
		if err := cli.Run(ctx, append([]string{"createapplication", "--json", "confidential", "password,client-credentials"}, args...)); err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		ids, secrets = append(ids, got["client_id"]), append(secrets, got["client_secret"])
	}
	// A name on two lines, which createapplication refuses, as an
	// application stored before names were checked may have.
	app, err := p.Store().GetApplication(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	app.Name = "two\tlines\n"
	if err := p.Store().UpdateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	return ids, secrets
}

func TestListApplications(t *testing.T) {
	t.Parallel()
	cli, p, out, _ := newCLI(t)
	ctx := context.Background()
	if err := cli.Run(ctx, []string{"listapplications"}); err != nil || out.String() != "No applications.\n" {
		t.Fatalf("empty: %v %q", err, out.String())
	}
	out.Reset()
	ids, secrets := setup(t, cli, p, out)
	for _, tc := range []struct {
		args     []string
		want     []string
		lines    int
		notWants []string
	}{
		{[]string{"listapplications"}, ids, 4, nil},
		{[]string{"listapplications", "--user", "alice"}, ids[:2], 3, ids[2:]},
		{[]string{"listapplications", "--user", "bob"}, []string{"No applications."}, 1, ids},
	} {
		out.Reset()
		if err := cli.Run(ctx, tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		got := out.String()
		if n := strings.Count(got, "\n"); n != tc.lines || !strings.HasPrefix(got, "CLIENT ID") && tc.lines > 1 {
			t.Errorf("%q: %d lines:\n%s", tc.args, n, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q lacks %q:\n%s", tc.args, w, got)
			}
		}
		for _, w := range append(tc.notWants, secrets...) {
			if strings.Contains(got, w) {
				t.Errorf("%q shows %q:\n%s", tc.args, w, got)
			}
		}
	}

	out.Reset()
	if err := cli.Run(ctx, []string{"listapplications", "--json", "--user", "alice"}); err != nil {
		t.Fatal(err)
	}
	var apps []map[string]any
	if err := json.Unmarshal(out.Bytes(), &apps); err != nil || len(apps) != 2 {
		t.Fatalf("--json: %v %s", err, out.String())
	}
	for _, a := range apps {
		if _, ok := a["secret_hash"]; ok || a["client_type"] != "confidential" || a["user_id"] == "" || a["user_id"] == nil {
			t.Errorf("--json application %v", a)
		}
	}
	out.Reset()
	if err := cli.Run(ctx, []string{"listapplications", "--json", "--user", "bob"}); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("--json with none: %v %q", err, out.String())
	}
}

func TestDeleteApplication(t *testing.T) {
	t.Parallel()
	cli, p, out, _ := newCLI(t)
	ctx := context.Background()
	ids, secrets := setup(t, cli, p, out)
	doomed := []string{issue(t, p, ids[0], secrets[0], ""), issue(t, p, ids[0], secrets[0], "alice")}
	kept := issue(t, p, ids[1], secrets[1], "alice")
	if err := cli.Run(ctx, []string{"deleteapplication", ids[0]}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ids[0]) || !strings.Contains(out.String(), "revoked") {
		t.Fatalf("output %q", out.String())
	}
	if _, err := p.Store().GetApplication(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("still stored: %v", err)
	}
	for _, tok := range doomed {
		if _, err := p.Validate(ctx, tok); !errors.Is(err, oautherr.ErrInvalidToken) {
			t.Errorf("a token of the deleted application: %v", err)
		}
	}
	if _, err := p.Validate(ctx, kept); err != nil {
		t.Errorf("another application's token: %v", err)
	}
	out.Reset()
	if err := cli.Run(ctx, []string{"deleteapplication", ids[0]}); err == nil || !strings.Contains(err.Error(), "no application") || out.Len() != 0 {
		t.Fatalf("deleting twice: %v %q", err, out.String())
	}
}

func TestRevokeTokens(t *testing.T) {
	t.Parallel()
	cli, p, out, _ := newCLI(t)
	ctx := context.Background()
	ids, secrets := setup(t, cli, p, out)
	toks := map[string]string{
		"alice@0": issue(t, p, ids[0], secrets[0], "alice"),
		"bob@0":   issue(t, p, ids[0], secrets[0], "bob"),
		"cc@0":    issue(t, p, ids[0], secrets[0], ""),
		"alice@2": issue(t, p, ids[2], secrets[2], "alice"),
		"bob@2":   issue(t, p, ids[2], secrets[2], "bob"),
	}
	for _, tc := range []struct {
		args    []string
		out     string
		revoked []string
	}{
		{[]string{"revoketokens", "--user", "alice", "--client-id", ids[2]}, "Revoked 1 grant.\n", []string{"alice@2"}},
		{[]string{"revoketokens", "--user", "alice"}, "Revoked 1 grant.\n", []string{"alice@0"}},
		{[]string{"revoketokens", "--client-id", ids[0]}, fmt.Sprintf("Revoked every token of application %q.\n", ids[0]), []string{"bob@0", "cc@0"}},
		{[]string{"revoketokens", "--client-id", ids[0]}, fmt.Sprintf("Revoked every token of application %q.\n", ids[0]), nil},
		{[]string{"revoketokens", "--client-id", "deleted-or-unknown"}, "No application \"deleted-or-unknown\": nothing revoked.\n", nil},
	} {
		out.Reset()
		if err := cli.Run(ctx, tc.args); err != nil || out.String() != tc.out {
			t.Fatalf("%q: %v %q; want %q", tc.args, err, out.String(), tc.out)
		}
		for _, name := range tc.revoked {
			if _, err := p.Validate(ctx, toks[name]); !errors.Is(err, oautherr.ErrInvalidToken) {
				t.Errorf("%q: %s still works (%v)", tc.args, name, err)
			}
			delete(toks, name)
		}
		for name, tok := range toks {
			if _, err := p.Validate(ctx, tok); err != nil {
				t.Errorf("%q: %s was revoked too (%v)", tc.args, name, err)
			}
		}
	}
}

// TestCreateApplicationProblems: the command says what is wrong in the
// application validator's sentences, one a line, not an error chain.
func TestCreateApplicationProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"createapplication", "public", "client-credentials"}, "A public client cannot use the client_credentials grant"},
		{[]string{"createapplication", "public", "authorization-code"}, "The authorization_code grant needs at least one redirect URI."},
		{[]string{"createapplication", "--redirect-uris", "http://evil.example/cb", "public", "authorization-code"},
			`The redirect URI "http://evil.example/cb" must use https`},
	} {
		cli, _, _, _ := newCLI(t)
		err := cli.Run(context.Background(), tc.args)
		if err == nil {
			t.Errorf("%q: got no error, want one saying %q", tc.args, tc.want)
			continue
		}
		if got := err.Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%q: got %q, want it to contain %q", tc.args, got, tc.want)
		}
		if got := err.Error(); strings.Contains(got, "ginoauth:") {
			t.Errorf("%q: got %q, want no package prefix", tc.args, got)
		}
	}
}
