package ginoauth_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// TestGeneratedIDs checks that the client and user ids the provider makes
// up read safely as a command-line argument: an id beginning with '-' was
// taken for a flag by `demo deleteapplication ID` (about one id in 64 did).
func TestGeneratedIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	safe := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	seen := map[string]bool{}
	for i := range 300 {
		app, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{
			Name: "svc", ClientType: store.Confidential, GrantTypes: []string{"client_credentials"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{app.ClientID}
		if i < 8 { // a user costs a bcrypt hash
			u, err := p.CreateUser(ctx, ginoauth.NewUser{Username: "user" + string(rune('a'+i)), Password: "wonderland"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		for _, id := range ids {
			if !safe.MatchString(id) || seen[id] {
				t.Fatalf("generated id %q: want 26 base32 characters, unique", id)
			}
			seen[id] = true
		}
	}
}
