package storetest

import (
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// testAudience: a token's Audience and a grant's Resources (RFC 8707) are
// kept as given, one or several, by SaveTokens, RotateRefreshToken and
// SaveAuthorizationCode; empty stays empty (the default resource).
func testAudience(t *testing.T, s store.Store) {
	c := ctx(t)
	for i, tc := range []struct {
		name      string
		audience  []string
		resources []string
	}{
		{"default", nil, nil},
		{"one", []string{"https://api.example.com/"}, []string{"https://api.example.com/"}},
		{"narrowed", []string{"https://b.example.com/v1"}, []string{"https://a.example.com/", "https://b.example.com/v1"}},
		{"several", []string{"https://a.example.com/", "urn:example:b"}, []string{"https://a.example.com/", "urn:example:b"}},
	} {
		fam := "aud" + string(rune('a'+i))
		at, rt := tokens(fam, "1", time.Hour, 0)
		at.Audience, rt.Resources = tc.audience, tc.resources
		must(t, tc.name+": SaveTokens", s.SaveTokens(c, at, rt))
		gotAT, err := s.GetAccessToken(c, at.Key)
		must(t, tc.name+": GetAccessToken", err)
		equal(t, tc.name+": access token", gotAT, at)
		gotRT, err := s.GetRefreshToken(c, rt.Key)
		must(t, tc.name+": GetRefreshToken", err)
		equal(t, tc.name+": refresh token", gotRT, rt)

		// A rotation stores the new pair's own audience.
		at2, rt2 := tokens(fam, "2", time.Hour, 0)
		at2.Audience, rt2.Resources = tc.resources, tc.resources
		at2.GrantCreatedAt, rt2.GrantCreatedAt = gotRT.GrantCreatedAt, gotRT.GrantCreatedAt // a rotation keeps it
		must(t, tc.name+": RotateRefreshToken", s.RotateRefreshToken(c, gotRT, nil, at2, rt2))
		gotAT, err = s.GetAccessToken(c, at2.Key)
		must(t, tc.name+": GetAccessToken after rotation", err)
		equal(t, tc.name+": rotated access token", gotAT, at2)
		gotRT, err = s.GetRefreshToken(c, rt2.Key)
		must(t, tc.name+": GetRefreshToken after rotation", err)
		equal(t, tc.name+": rotated refresh token", gotRT, rt2)

		cd := code("audc"+string(rune('a'+i)), "1", time.Minute)
		cd.Resources = tc.resources
		must(t, tc.name+": SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
		gotCode, err := s.GetAuthorizationCode(c, cd.Key)
		must(t, tc.name+": GetAuthorizationCode", err)
		equal(t, tc.name+": code", gotCode, cd)
	}
}
