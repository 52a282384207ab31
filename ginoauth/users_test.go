package ginoauth_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestUnusablePasswordCostsAComparison: a user who cannot log in with a
// password (created by social sign-in with an empty or "!"-marked hash, or
// with a hash that is not bcrypt) costs the password grant one bcrypt
// comparison at PasswordCost, as an unknown username does, rather than an
// immediate refusal that timing would tell apart. The comparisons are
// counted through StoreUsers.Compare, with the cost of each hash compared.
func TestUnusablePasswordCostsAComparison(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		costs []int
	)
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		c.Users = ginoauth.StoreUsers{Users: c.Store, Compare: func(hash, password []byte) error {
			cost, err := bcrypt.Cost(hash)
			if err != nil {
				cost = -1 // not a bcrypt hash: no work done
			}
			mu.Lock()
			costs = append(costs, cost)
			mu.Unlock()
			return bcrypt.CompareHashAndPassword(hash, password)
		}}
	})
	ctx := context.Background()
	for i, hash := range []string{"", "!Xy3unusablepasswordfromsocialsignin", "$2a$10$short", "pbkdf2_sha256$870000$salt$hash"} {
		u := &store.User{ID: fmt.Sprint("s", i), Username: fmt.Sprint("social", i), PasswordHash: hash, IsActive: true}
		if err := e.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	try := func(username string) (int, []int) {
		mu.Lock()
		costs = nil
		mu.Unlock()
		r := e.token(url.Values{"grant_type": {"password"}, "username": {username}, "password": {"guess"}}, []string{e.confID, e.secret})
		mu.Lock()
		defer mu.Unlock()
		return r.status, slices.Clone(costs)
	}
	want := []int{ginoauth.PasswordCost}
	for _, username := range []string{"nobody", "social0", "social1", "social2", "social3"} {
		status, got := try(username)
		if status != 400 {
			t.Errorf("password grant for %s: status = %d, want 400", username, status)
		}
		if !slices.Equal(got, want) {
			t.Errorf("password grant for %s: bcrypt comparisons at costs %v, want %v (as for an unknown user)", username, got, want)
		}
	}
	// A real user's wrong password costs a comparison with their own hash.
	if _, got := try("alice"); !slices.Equal(got, []int{bcrypt.MinCost}) {
		t.Errorf("password grant for alice: bcrypt comparisons at costs %v, want [%d]", got, bcrypt.MinCost)
	}
}
