package storetest

import (
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// testSigningKeys: a saved key is listed as saved, saving its KID again
// replaces it, and a deleted key is gone (deleting it twice succeeds). A
// store without store.SigningKeys skips.
func testSigningKeys(t *testing.T, s store.Store) {
	ks, ok := s.(store.SigningKeys)
	if !ok {
		t.Skip("store does not implement store.SigningKeys")
	}
	c := ctx(t)
	t0 := now()
	a := &store.SigningKey{KID: "a", Alg: "RS256", Sealed: []byte{1, 2, 3}, CreatedAt: t0, ActiveAt: t0}
	b := &store.SigningKey{KID: "b", Alg: "ES256", Sealed: []byte{4}, CreatedAt: t0, ActiveAt: t0.Add(time.Minute)}
	must(t, "SaveSigningKey a", ks.SaveSigningKey(c, a))
	must(t, "SaveSigningKey b", ks.SaveSigningKey(c, b))
	a.Sealed[0] = 9 // the store keeps its own copy
	a2 := *a
	a2.Sealed = []byte{1, 2, 3}
	a2.RetiredAt = t0.Add(time.Hour)
	must(t, "SaveSigningKey a again", ks.SaveSigningKey(c, &a2))
	got := listKeys(t, ks)
	if len(got) != 2 {
		t.Fatalf("ListSigningKeys: got %d keys, want 2", len(got))
	}
	if g := got["a"]; g == nil || !g.RetiredAt.Equal(a2.RetiredAt) || string(g.Sealed) != "\x01\x02\x03" || g.Alg != "RS256" {
		t.Errorf("key a: got %+v, want %+v", g, a2)
	}
	if g := got["b"]; g == nil || !g.ActiveAt.Equal(b.ActiveAt) || !g.RetiredAt.IsZero() || g.Alg != "ES256" {
		t.Errorf("key b: got %+v, want %+v", g, b)
	}
	must(t, "DeleteSigningKey a", ks.DeleteSigningKey(c, "a"))
	must(t, "DeleteSigningKey a twice", ks.DeleteSigningKey(c, "a"))
	if got := listKeys(t, ks); len(got) != 1 || got["b"] == nil {
		t.Errorf("after delete: got %v, want only b", got)
	}
}

func listKeys(t *testing.T, ks store.SigningKeys) map[string]*store.SigningKey {
	t.Helper()
	list, err := ks.ListSigningKeys(ctx(t))
	must(t, "ListSigningKeys", err)
	m := make(map[string]*store.SigningKey)
	for _, k := range list {
		m[k.KID] = k
	}
	return m
}

// testCodeOIDC: a code keeps its OpenID Connect nonce and auth time, with
// or without the other optional fields.
func testCodeOIDC(t *testing.T, s store.Store) {
	c := ctx(t)
	for i, tc := range []struct {
		name     string
		nonce    string
		authTime time.Time
		bare     bool
	}{
		{"nonce and auth time", "n-0S6_WzA2Mj", now().Add(-time.Minute), false},
		{"nonce only", "abc", time.Time{}, false},
		{"auth time only", "", now(), false},
		{"bare code with both", "xyz", now(), true},
	} {
		cd := code("oidc"+string(rune('a'+i)), "1", time.Minute)
		if tc.bare {
			cd.RedirectURI, cd.CodeChallenge, cd.CodeChallengeMethod = "", "", ""
		}
		cd.Nonce, cd.AuthTime = tc.nonce, tc.authTime
		must(t, tc.name+": SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
		got, err := s.GetAuthorizationCode(c, cd.Key)
		must(t, tc.name+": GetAuthorizationCode", err)
		equal(t, tc.name, got, cd)
	}
}
