package storetest

import (
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// testJKT: a DPoP-bound token's JKT (RFC 9449 section 6) is kept by
// SaveTokens and RotateRefreshToken, for the access and the refresh token
// alike, and an unbound token reads back unbound; a code keeps its
// DPoPJKT.
func testJKT(t *testing.T, s store.Store) {
	c := ctx(t)
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for i, tc := range []struct {
		name         string
		atJKT, rtJKT string
	}{
		{"unbound", "", ""},
		{"access only (confidential client)", jkt, ""},
		{"both (public client)", jkt, jkt},
	} {
		fam := "jkt" + string(rune('a'+i))
		at, rt := tokens(fam, "1", time.Hour, time.Hour)
		at.JKT, rt.JKT = tc.atJKT, tc.rtJKT
		must(t, tc.name+": SaveTokens", s.SaveTokens(c, at, rt))
		gotAT, err := s.GetAccessToken(c, at.Key)
		must(t, tc.name+": GetAccessToken", err)
		equal(t, tc.name+": access token", gotAT, at)
		gotRT, err := s.GetRefreshToken(c, rt.Key)
		must(t, tc.name+": GetRefreshToken", err)
		equal(t, tc.name+": refresh token", gotRT, rt)

		at2, rt2 := tokens(fam, "2", time.Hour, time.Hour)
		at2.JKT, rt2.JKT = tc.atJKT, tc.rtJKT
		at2.GrantCreatedAt, rt2.GrantCreatedAt = gotRT.GrantCreatedAt, gotRT.GrantCreatedAt
		must(t, tc.name+": RotateRefreshToken", s.RotateRefreshToken(c, gotRT, nil, at2, rt2))
		gotAT, err = s.GetAccessToken(c, at2.Key)
		must(t, tc.name+": GetAccessToken after rotation", err)
		equal(t, tc.name+": rotated access token", gotAT, at2)
		gotRT, err = s.GetRefreshToken(c, rt2.Key)
		must(t, tc.name+": GetRefreshToken after rotation", err)
		equal(t, tc.name+": rotated refresh token", gotRT, rt2)
	}
	// A code's dpop_jkt (RFC 9449 section 10).
	cd := code("jktcode", "1", time.Minute)
	cd.DPoPJKT = jkt
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	got, err := s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode", err)
	equal(t, "code with dpop_jkt", got, cd)
}
