package manage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/manage"
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
	} {
		cli, _, out, _ := newCLI(t)
		err := cli.Run(context.Background(), args)
		if err == nil || errors.Is(err, manage.ErrUsage) || out.Len() != 0 {
			t.Errorf("%q: err=%v stdout=%q", args, err, out.String())
		}
	}
}
