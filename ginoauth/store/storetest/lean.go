package storetest

import (
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// This file checks the family semantics of store.Key (a family holds one
// access token, one refresh token and one code; a save replaces them; a
// lookup with another signature finds nothing), application generations
// and the user grant index.

func testFamilyReplace(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens(1)", s.SaveTokens(c, at1, rt1))
	at2, rt2 := tokens("fam", "2", time.Hour, 0)
	must(t, "SaveTokens(2) into the same family", s.SaveTokens(c, at2, rt2))
	if hasAccess(t, s, at1.Key) || hasRefresh(t, s, rt1.Key) {
		t.Fatal("a second SaveTokens into a family left the first tokens in place")
	}
	if !hasAccess(t, s, at2.Key) || !hasRefresh(t, s, rt2.Key) {
		t.Fatal("the second SaveTokens into a family stored nothing")
	}
	// An access token alone replaces the access token, not the refresh token.
	at3, _ := tokens("fam", "3", time.Hour, 0)
	must(t, "SaveTokens(3, nil)", s.SaveTokens(c, at3, nil))
	if hasAccess(t, s, at2.Key) || !hasAccess(t, s, at3.Key) || !hasRefresh(t, s, rt2.Key) {
		t.Fatal("SaveTokens(at, nil) did not replace only the access token")
	}
	// Revoking an older token of the family leaves the current one alone.
	must(t, "RevokeAccessToken(replaced)", s.RevokeAccessToken(c, at1.Key))
	must(t, "RevokeRefreshToken(replaced)", s.RevokeRefreshToken(c, rt1.Key))
	if !hasAccess(t, s, at3.Key) || !hasRefresh(t, s, rt2.Key) {
		t.Fatal("revoking a replaced token removed the family's current one")
	}
	// A rotation presenting a replaced refresh token fails.
	at4, rt4 := tokens("fam", "4", time.Hour, 0)
	wantErr(t, "RotateRefreshToken(replaced)", s.RotateRefreshToken(c, rt1, nil, at4, rt4), store.ErrNotFound)
	if !hasAccess(t, s, at3.Key) || hasAccess(t, s, at4.Key) {
		t.Fatal("a failed rotation changed the family")
	}
}

func testSignatureMismatch(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	cd := code("fam", "1", time.Minute)
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	for _, sig := range []string{"at-2", "at-", "at-11", "AT-1", ""} {
		k := store.Key{Family: "fam", Signature: sig}
		if hasAccess(t, s, k) || hasRefresh(t, s, k) || hasCode(t, s, k) {
			t.Fatalf("a lookup of family fam with signature %q found a record", sig)
		}
	}
	wantErr(t, "ConsumeAuthorizationCode(wrong signature)", s.ConsumeAuthorizationCode(c, store.Key{Family: "fam", Signature: "code-2"}, now()), store.ErrNotFound)
	must(t, "ConsumeAuthorizationCode", s.ConsumeAuthorizationCode(c, cd.Key, now()))
	// One code a family.
	wantErr(t, "SaveAuthorizationCode(second code of the family)", s.SaveAuthorizationCode(c, code("fam", "2", time.Minute)), store.ErrDuplicate)
	got, err := s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode", err)
	if got.ConsumedAt.IsZero() {
		t.Fatal("a refused second code undid the consumption")
	}
}

func testAppGenerations(t *testing.T, s store.Store) {
	c := ctx(t)
	app := newApp("gen")
	must(t, "CreateApplication", s.CreateApplication(c, app))
	g1 := app.Generation
	if g1 == 0 {
		t.Fatal("CreateApplication left Generation zero")
	}
	got, err := s.GetApplication(c, "gen")
	must(t, "GetApplication", err)
	if got.Generation != g1 {
		t.Fatalf("stored Generation %d, want %d", got.Generation, g1)
	}
	other := newApp("other")
	must(t, "CreateApplication(other)", s.CreateApplication(c, other))
	if other.Generation == g1 {
		t.Fatal("two applications got the same Generation")
	}

	g2, err := s.RevokeApplicationTokens(c, "gen")
	must(t, "RevokeApplicationTokens", err)
	if g2 == g1 || g2 == other.Generation {
		t.Fatalf("RevokeApplicationTokens gave Generation %d, already given", g2)
	}
	got, err = s.GetApplication(c, "gen")
	must(t, "GetApplication", err)
	if got.Generation != g2 {
		t.Fatalf("Generation after RevokeApplicationTokens %d, want %d", got.Generation, g2)
	}
	// An update with a stale Generation keeps the stored one.
	app.Name = "Renamed"
	must(t, "UpdateApplication", s.UpdateApplication(c, app))
	got, err = s.GetApplication(c, "gen")
	must(t, "GetApplication", err)
	if got.Generation != g2 || got.Name != "Renamed" {
		t.Fatalf("after an update: Generation %d, Name %q; want %d, Renamed", got.Generation, got.Name, g2)
	}
	// Deleted and created again: yet another Generation.
	must(t, "DeleteApplication", s.DeleteApplication(c, "gen"))
	again := newApp("gen")
	must(t, "CreateApplication again", s.CreateApplication(c, again))
	if again.Generation == g1 || again.Generation == g2 {
		t.Fatalf("a recreated application got Generation %d, already given", again.Generation)
	}
	_, err = s.RevokeApplicationTokens(c, "missing")
	wantErr(t, "RevokeApplicationTokens(missing)", err, store.ErrNotFound)
}

func testUserIndex(t *testing.T, s store.Store) {
	c := ctx(t)
	// Tokens without a user are in no grant index.
	atM, _ := grantTokens("machine", "c", "", time.Hour, 0)
	must(t, "SaveTokens(machine)", s.SaveTokens(c, atM, nil))
	at1, rt1 := grantTokens("f1", "c", "u", time.Hour, 0)
	at1.Generation, rt1.Generation = 3, 3
	must(t, "SaveTokens(f1)", s.SaveTokens(c, at1, rt1))
	at2, _ := grantTokens("f2", "d", "u", time.Hour, 0)
	must(t, "SaveTokens(f2)", s.SaveTokens(c, at2, nil))
	gs := listGrants(t, s, store.GrantFilter{UserID: "u", ClientID: "c"})
	if len(gs) != 1 || gs[0].Family != "f1" || gs[0].Generation != 3 {
		t.Fatalf("ListGrants(u, c) = %+v, want f1 with Generation 3", gs)
	}
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u"})); len(got) != 2 {
		t.Fatalf("ListGrants(u) = %q, want f1 and f2", got)
	}
	must(t, "RevokeFamily(f1)", s.RevokeFamily(c, "f1"))
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u"})); len(got) != 1 || got[0] != "f2" {
		t.Fatalf("ListGrants(u) after revoking f1 = %q, want [f2]", got)
	}
}
