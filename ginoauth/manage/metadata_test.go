package manage_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/manage"
)

// ecJWKS is a JWK Set with one public P-256 key (RFC 7517 appendix A.1).
const ecJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"1"}]}`

// TestCreateApplicationMetadata: createapplication --metadata registers
// from an RFC 7591 document and prints the credentials, a secret only for
// a method that uses one; a bad document is refused with the validator's
// sentences, and arguments that the document replaces are a usage error.
func TestCreateApplicationMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantErr    string // "" for success; "usage" for manage.ErrUsage
		wantSecret bool
		wantMethod string
	}{
		{"confidential", []string{"--metadata", `{"redirect_uris":["https://app.example/cb"],"client_name":"Web"}`}, "", true, "client_secret_basic"},
		{"public", []string{"--metadata", `{"redirect_uris":["http://127.0.0.1:8765/cb"],"token_endpoint_auth_method":"none"}`}, "", false, "none"},
		{"private_key_jwt", []string{"--metadata", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + ecJWKS + `}`, "--client-id", "svc-jwt"}, "", false, "private_key_jwt"},
		{"bad redirect", []string{"--metadata", `{"redirect_uris":["http://app.example/cb"]}`}, "must use https", false, ""},
		{"unknown grant", []string{"--metadata", `{"grant_types":["implicit"]}`}, `does not offer the grant type "implicit"`, false, ""},
		{"duplicate member", []string{"--metadata", `{"scope":"read","scope":"write"}`}, "given twice", false, ""},
		{"not an object", []string{"--metadata", `["https://app.example/cb"]`}, "not a JSON object", false, ""},
		{"empty document", []string{"--metadata", ``}, "not a JSON object", false, ""},
		{"with arguments", []string{"--metadata", `{}`, "public", "password"}, "usage", false, ""},
		{"with --name", []string{"--metadata", `{}`, "--name", "x"}, "usage", false, ""},
		{"with --scopes", []string{"--scopes", "read", "--metadata", `{}`}, "usage", false, ""},
	}
	for _, tc := range tests {
		cli, p, out, errb := newCLI(t)
		err := cli.Run(context.Background(), append([]string{"createapplication", "--json"}, tc.args...))
		switch {
		case tc.wantErr == "usage":
			if !errors.Is(err, manage.ErrUsage) || !strings.Contains(errb.String(), "--metadata takes no arguments") {
				t.Errorf("%s: error %v, stderr %q; want a usage error", tc.name, err, errb.String())
			}
			continue
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "not created") {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.wantErr)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got map[string]string
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: output %q: %v", tc.name, out.String(), err)
		}
		if _, has := got["client_secret"]; has != tc.wantSecret || got["client_id"] == "" {
			t.Errorf("%s: printed %v, want a client_id and a client_secret %v", tc.name, got, tc.wantSecret)
		}
		app, err := p.Store().GetApplication(context.Background(), got["client_id"])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if app.AuthMethod() != tc.wantMethod {
			t.Errorf("%s: stored method %q, want %q", tc.name, app.AuthMethod(), tc.wantMethod)
		}
	}
}

// TestCreateUserNames: createuser keeps --email, --given-name and
// --family-name.
func TestCreateUserNames(t *testing.T) {
	t.Parallel()
	cli, p, _, _ := newCLI(t)
	ctx := context.Background()
	err := cli.Run(ctx, []string{"createuser", "--username", "carol", "--password", "pw-carol", "--email", "carol@example.com", "--given-name", "Carol", "--family-name", "Danvers"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.Store().GetUserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [3]string{u.Email, u.FirstName, u.LastName}, [3]string{"carol@example.com", "Carol", "Danvers"}; got != want {
		t.Errorf("email, given and family name = %q, want %q", got, want)
	}
}
