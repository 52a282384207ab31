package storetest

import (
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// freshTests are the contract of store.FreshTokenSaver, run when the store
// implements it: what SaveFreshTokens stores reads back, lists and revokes
// as what SaveTokens stores.
var freshTests = []contractTest[store.Store]{
	{"FreshTokens/Access", testFreshAccess},
	{"FreshTokens/Pair", testFreshPair},
	{"FreshTokens/SavedExpired", testFreshSavedExpired},
}

func freshSaver(t *testing.T, s store.Store) store.FreshTokenSaver {
	t.Helper()
	f, ok := s.(store.FreshTokenSaver)
	if !ok {
		t.Skip("the store does not implement store.FreshTokenSaver")
	}
	return f
}

// testFreshAccess: an access token alone, with a user and without one
// (client_credentials), reads back whole, its grant lists, and
// RevokeFamily and RevokeAccessToken remove it.
func testFreshAccess(t *testing.T, s store.Store) {
	f, c := freshSaver(t, s), ctx(t)
	at, _ := tokens("fam", "1", time.Hour, 0)
	at.Audience = []string{"https://api.example/a"}
	must(t, "SaveFreshTokens(at, nil)", f.SaveFreshTokens(c, at, nil))
	got, err := s.GetAccessToken(c, at.Key)
	must(t, "GetAccessToken", err)
	equal(t, "GetAccessToken", got, at)
	grants, err := s.ListGrants(c, store.GrantFilter{UserID: at.UserID})
	must(t, "ListGrants", err)
	if len(grants) != 1 || grants[0].Family != "fam" {
		t.Fatalf("ListGrants(%q) = %v, want the grant of family fam", at.UserID, grants)
	}
	must(t, "RevokeFamily", s.RevokeFamily(c, "fam"))
	if hasAccess(t, s, at.Key) {
		t.Fatal("access token still there after RevokeFamily")
	}

	cc, _ := tokens("fam2", "2", time.Hour, 0)
	cc.UserID, cc.Username = "", ""
	must(t, "SaveFreshTokens(client token)", f.SaveFreshTokens(c, cc, nil))
	got, err = s.GetAccessToken(c, cc.Key)
	must(t, "GetAccessToken(client token)", err)
	equal(t, "GetAccessToken(client token)", got, cc)
	must(t, "RevokeAccessToken", s.RevokeAccessToken(c, cc.Key))
	if hasAccess(t, s, cc.Key) {
		t.Fatal("client token still there after RevokeAccessToken")
	}
}

// testFreshPair: a pair is stored whole, and a refresh token that never
// expires reads back so.
func testFreshPair(t *testing.T, s store.Store) {
	f, c := freshSaver(t, s), ctx(t)
	at, rt := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveFreshTokens", f.SaveFreshTokens(c, at, rt))
	gotAT, err := s.GetAccessToken(c, at.Key)
	must(t, "GetAccessToken", err)
	equal(t, "GetAccessToken", gotAT, at)
	gotRT, err := s.GetRefreshToken(c, rt.Key)
	must(t, "GetRefreshToken", err)
	equal(t, "GetRefreshToken", gotRT, rt)
}

func testFreshSavedExpired(t *testing.T, s store.Store) {
	f, c := freshSaver(t, s), ctx(t)
	at, _ := tokens("fam", "1", -time.Second, 0)
	_ = f.SaveFreshTokens(c, at, nil) // accepted or refused, never returned
	if hasAccess(t, s, at.Key) {
		t.Fatal("access token saved already expired is returned")
	}
}
