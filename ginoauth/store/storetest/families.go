package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// This file checks authorization codes, retired refresh tokens, families,
// grants and the limiter.

// --- fixtures ---

// code returns an authorization code of family expiring in ttl.
func code(family, name string, ttl time.Duration) *store.AuthorizationCode {
	n := now()
	return &store.AuthorizationCode{
		Key:      store.Key{Family: family, Signature: "code-" + name},
		ClientID: "client", UserID: "u1", Username: "alice",
		Scopes:              []string{"read", "write"},
		RedirectURI:         "https://example.com/cb",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		IssuedAt:            n,
		ExpiresAt:           n.Add(ttl),
	}
}

// retiredOf returns the retired record of rt, kept for ttl, with a
// successor that is not valid UTF-8.
func retiredOf(rt *store.RefreshToken, ttl time.Duration) *store.RetiredRefreshToken {
	n := now()
	return &store.RetiredRefreshToken{
		Key: rt.Key, ClientID: rt.ClientID, RotatedAt: n,
		Successor: []byte{0x00, 0xff, 's', 'e', 'a', 'l', 0x80, 0x7f},
		ExpiresAt: n.Add(ttl),
	}
}

// grantTokens returns tokens of family for client and user ("" for none),
// as tokens does.
func grantTokens(family, client, user string, atTTL, rtTTL time.Duration) (*store.AccessToken, *store.RefreshToken) {
	at, rt := tokens(family, family, atTTL, rtTTL)
	at.ClientID, rt.ClientID = client, client
	at.UserID, rt.UserID = user, user
	at.Username, rt.Username = "", ""
	if user != "" {
		at.Username, rt.Username = "name-"+user, "name-"+user
	}
	return at, rt
}

// grantOf is the grant SaveTokens(at, rt) makes, expiring at exp.
func grantOf(at *store.AccessToken, exp time.Time) *store.Grant {
	return &store.Grant{
		Family: at.Key.Family, ClientID: at.ClientID, UserID: at.UserID,
		Username: at.Username, Scopes: slices.Clone(at.Scopes),
		CreatedAt: at.IssuedAt, ExpiresAt: exp,
	}
}

func hasRetired(t *testing.T, s store.Store, k store.Key) bool {
	t.Helper()
	_, err := s.GetRetiredRefreshToken(ctx(t), k)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRetiredRefreshToken(%v): %v", k, err)
	}
	return err == nil
}

func hasCode(t *testing.T, s store.Store, k store.Key) bool {
	t.Helper()
	_, err := s.GetAuthorizationCode(ctx(t), k)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAuthorizationCode(%v): %v", k, err)
	}
	return err == nil
}

func listGrants(t *testing.T, s store.Store, f store.GrantFilter) []*store.Grant {
	t.Helper()
	gs, err := s.ListGrants(ctx(t), f)
	if err != nil {
		t.Fatalf("ListGrants(%+v): %v", f, err)
	}
	return gs
}

func families(gs []*store.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Family
	}
	return out
}

// equalGrant compares grants, allowing a store to keep ExpiresAt to the
// millisecond only; CreatedAt must lie within [from, to] when want's is
// zero (a store may take it from the tokens or from its own clock).
func equalGrant(t *testing.T, what string, got, want *store.Grant) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no grant, want %+v", what, want)
	}
	g, w := *got, *want
	switch {
	case w.ExpiresAt.IsZero() != g.ExpiresAt.IsZero():
		t.Fatalf("%s: ExpiresAt %v, want %v", what, g.ExpiresAt, w.ExpiresAt)
	case !w.ExpiresAt.IsZero() && g.ExpiresAt.Sub(w.ExpiresAt).Abs() > time.Millisecond:
		t.Fatalf("%s: ExpiresAt %v, want %v (to the millisecond)", what, g.ExpiresAt, w.ExpiresAt)
	}
	g.ExpiresAt = w.ExpiresAt
	equal(t, what, &g, &w)
}

// --- retired refresh tokens ---

func testRotateRetired(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	_, err := s.GetRetiredRefreshToken(c, rt1.Key)
	wantErr(t, "GetRetiredRefreshToken of a live refresh token", err, store.ErrNotFound)

	retired := retiredOf(rt1, time.Hour)
	want := *retired
	want.Successor = slices.Clone(retired.Successor)
	at2, rt2 := tokens("fam", "2", time.Hour, 24*time.Hour)
	must(t, "RotateRefreshToken", s.RotateRefreshToken(c, rt1, retired, at2, rt2))
	retired.Successor[0] = 'X' // the store kept its own copy

	got, err := s.GetRetiredRefreshToken(c, rt1.Key)
	must(t, "GetRetiredRefreshToken", err)
	equal(t, "retired refresh token", got, &want)
	got.Successor[1] = 'X'
	again, err := s.GetRetiredRefreshToken(c, rt1.Key)
	must(t, "GetRetiredRefreshToken", err)
	equal(t, "retired refresh token after mutating a returned record", again, &want)

	// The retired record is not a refresh token, nor an access token.
	if hasRefresh(t, s, rt1.Key) || hasAccess(t, s, rt1.Key) {
		t.Fatal("the retired refresh token is still usable")
	}
	if hasRetired(t, s, rt2.Key) {
		t.Fatal("GetRetiredRefreshToken found the live refresh token's key")
	}

	// A replayed rotation fails and leaves the retired record as it was.
	at3, rt3 := tokens("fam", "3", time.Hour, 24*time.Hour)
	other := retiredOf(rt1, 2*time.Hour)
	other.RotatedAt = other.RotatedAt.Add(time.Minute)
	other.Successor = []byte("other")
	wantErr(t, "replayed RotateRefreshToken", s.RotateRefreshToken(c, rt1, other, at3, rt3), store.ErrNotFound)
	got, err = s.GetRetiredRefreshToken(c, rt1.Key)
	must(t, "GetRetiredRefreshToken after a failed rotation", err)
	equal(t, "retired refresh token after a failed rotation", got, &want)
	if hasRetired(t, s, store.Key{Family: "none", Signature: "nope"}) {
		t.Fatal("GetRetiredRefreshToken found a key of a family never written")
	}
	_, err = s.GetRetiredRefreshToken(c, store.Key{})
	wantErr(t, "GetRetiredRefreshToken(zero key)", err, store.ErrNotFound)

	// The next generation retires in turn, without a successor.
	retired2 := retiredOf(rt2, time.Hour)
	retired2.Successor = nil
	must(t, "RotateRefreshToken(second)", s.RotateRefreshToken(c, rt2, retired2, at3, rt3))
	got, err = s.GetRetiredRefreshToken(c, rt2.Key)
	must(t, "GetRetiredRefreshToken(second)", err)
	equal(t, "second retired refresh token", got, retired2)
	if !hasRetired(t, s, rt1.Key) {
		t.Fatal("the second rotation removed the first retired record")
	}
}

// inferred checks that GetRetiredRefreshToken(k) answers the record it
// infers from the family's live refresh token live: its client and
// expiry, no rotation time, no successor.
func inferred(t *testing.T, s store.Store, what string, k store.Key, live *store.RefreshToken) {
	t.Helper()
	got, err := s.GetRetiredRefreshToken(ctx(t), k)
	must(t, what+": GetRetiredRefreshToken", err)
	want := &store.RetiredRefreshToken{Key: k, ClientID: live.ClientID, ExpiresAt: live.ExpiresAt}
	if got.ExpiresAt.Sub(want.ExpiresAt).Abs() <= time.Millisecond {
		got.ExpiresAt = want.ExpiresAt // a store may keep milliseconds only
	}
	equal(t, what+": the record inferred from the live refresh token", got, want)
}

// testRotateRetiredNil: a rotation without a retired record files none,
// and the rotated token is still recognised, from the family's new live
// refresh token, until the family holds none.
func testRotateRetiredNil(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	at2, rt2 := tokens("fam", "2", time.Hour, 0)
	must(t, "RotateRefreshToken(retired nil)", s.RotateRefreshToken(c, rt1, nil, at2, rt2))
	if hasRefresh(t, s, rt1.Key) || !hasRefresh(t, s, rt2.Key) || !hasAccess(t, s, at2.Key) {
		t.Fatal("rotation without a retired record did not rotate")
	}
	inferred(t, s, "rotated token (refresh token that never expires)", rt1.Key, rt2)
	inferred(t, s, "a token of the family never stored", store.Key{Family: "fam", Signature: "rt-x"}, rt2)
	if hasRetired(t, s, rt2.Key) {
		t.Fatal("GetRetiredRefreshToken found the live refresh token's key")
	}

	// A family whose refresh token expires: the inferred record says when.
	at3, rt3 := tokens("exp", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens(exp)", s.SaveTokens(c, at3, rt3))
	at4, rt4 := tokens("exp", "2", time.Hour, 48*time.Hour)
	must(t, "RotateRefreshToken(exp)", s.RotateRefreshToken(c, rt3, nil, at4, rt4))
	inferred(t, s, "rotated token (refresh token that expires)", rt3.Key, rt4)

	// Once the family holds no refresh token, nothing is known of it.
	must(t, "RevokeRefreshToken", s.RevokeRefreshToken(c, rt2.Key))
	if hasRetired(t, s, rt1.Key) {
		t.Fatal("GetRetiredRefreshToken inferred a record from a family without a refresh token")
	}
}

// testRotateRetiredExpiry: a filed record is forgotten at its ExpiresAt;
// the rotated token is then still recognised from the live one, and no
// longer once that has expired too.
func testRotateRetiredExpiry(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	at2, rt2 := tokens("fam", "2", time.Hour, 2*sleepPast)
	filed := retiredOf(rt1, expiryWait)
	must(t, "RotateRefreshToken", s.RotateRefreshToken(c, rt1, filed, at2, rt2))
	got, err := s.GetRetiredRefreshToken(c, rt1.Key)
	must(t, "GetRetiredRefreshToken before its ExpiresAt", err)
	if len(got.Successor) == 0 {
		t.Fatal("the filed retired record is gone before its ExpiresAt")
	}
	time.Sleep(sleepPast)
	inferred(t, s, "after the filed record's ExpiresAt", rt1.Key, rt2)
	if !hasRefresh(t, s, rt2.Key) {
		t.Fatal("the new refresh token expired with the retired record")
	}
	time.Sleep(sleepPast + expiryWait) // past rt2's expiry
	if hasRetired(t, s, rt1.Key) {
		t.Fatal("GetRetiredRefreshToken inferred a record from an expired refresh token")
	}
}

// --- authorization codes ---

func testCodeSaveGet(t *testing.T, s store.Store) {
	c := ctx(t)
	cd := code("fam", "1", time.Minute)
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	got, err := s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode", err)
	equal(t, "GetAuthorizationCode", got, cd)
	if !got.ConsumedAt.IsZero() {
		t.Fatalf("a fresh code came back consumed at %v", got.ConsumedAt)
	}

	// A code without PKCE, user name or scopes.
	bare := code("fam2", "2", time.Minute)
	bare.CodeChallenge, bare.CodeChallengeMethod, bare.Username, bare.Scopes = "", "", "", nil
	must(t, "SaveAuthorizationCode(bare)", s.SaveAuthorizationCode(c, bare))
	got, err = s.GetAuthorizationCode(c, bare.Key)
	must(t, "GetAuthorizationCode(bare)", err)
	equal(t, "GetAuthorizationCode(bare)", got, bare)

	missing := store.Key{Family: "fam", Signature: "nope"}
	_, err = s.GetAuthorizationCode(c, missing)
	wantErr(t, "GetAuthorizationCode(missing)", err, store.ErrNotFound)
	_, err = s.GetAuthorizationCode(c, store.Key{})
	wantErr(t, "GetAuthorizationCode(zero key)", err, store.ErrNotFound)
	wantErr(t, "ConsumeAuthorizationCode(missing)", s.ConsumeAuthorizationCode(c, missing, now()), store.ErrNotFound)
	if hasCode(t, s, missing) {
		t.Fatal("consuming a missing code created it")
	}
	// Codes, tokens and retired tokens are kept apart.
	if hasAccess(t, s, cd.Key) || hasRefresh(t, s, cd.Key) || hasRetired(t, s, cd.Key) {
		t.Fatal("a code's key is found as a token")
	}
}

func testCodeConsume(t *testing.T, s store.Store) {
	c := ctx(t)
	cd := code("fam", "1", time.Minute)
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	at := now().Add(time.Second)
	must(t, "ConsumeAuthorizationCode", s.ConsumeAuthorizationCode(c, cd.Key, at))

	want := *cd
	want.ConsumedAt = at
	got, err := s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode of a consumed code", err)
	equal(t, "consumed code", got, &want)

	wantErr(t, "ConsumeAuthorizationCode again", s.ConsumeAuthorizationCode(c, cd.Key, at.Add(time.Second)), store.ErrConsumed)
	got, err = s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode after a replay", err)
	equal(t, "consumed code after a replay", got, &want)

	// Consuming one code leaves another alone.
	other := code("fam2", "2", time.Minute)
	must(t, "SaveAuthorizationCode(other)", s.SaveAuthorizationCode(c, other))
	got, err = s.GetAuthorizationCode(c, other.Key)
	must(t, "GetAuthorizationCode(other)", err)
	if !got.ConsumedAt.IsZero() {
		t.Fatal("a code came back consumed after another was")
	}
	must(t, "ConsumeAuthorizationCode(other)", s.ConsumeAuthorizationCode(c, other.Key, at))
}

func testCodeConcurrentConsume(t *testing.T, s store.Store) {
	const n = 20
	c := ctx(t)
	cd := code("fam", "1", time.Minute)
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	base := now()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.ConsumeAuthorizationCode(c, cd.Key, base.Add(time.Duration(i+1)*time.Millisecond))
		})
	}
	close(start)
	wg.Wait()

	winner, consumed := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("consumptions %d and %d of one code both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, store.ErrConsumed):
			consumed++
		default:
			t.Fatalf("consumption %d: unexpected error %v", i, err)
		}
	}
	if winner < 0 || consumed != n-1 {
		t.Fatalf("%d concurrent consumptions: want 1 success and %d ErrConsumed, got winner=%d and %d ErrConsumed", n, n-1, winner, consumed)
	}
	got, err := s.GetAuthorizationCode(c, cd.Key)
	must(t, "GetAuthorizationCode", err)
	want := *cd
	want.ConsumedAt = base.Add(time.Duration(winner+1) * time.Millisecond)
	equal(t, "code after concurrent consumptions (ConsumedAt of the winner)", got, &want)
}

func testCodeRetention(t *testing.T, s store.Store) {
	c := ctx(t)
	// Expired, but within the retention: still readable and consumable, so
	// that a replay is recognised.
	late := code("fam", "late", -time.Second)
	must(t, "SaveAuthorizationCode(expired)", s.SaveAuthorizationCode(c, late))
	got, err := s.GetAuthorizationCode(c, late.Key)
	must(t, "GetAuthorizationCode(expired, within retention)", err)
	equal(t, "expired code within retention", got, late)
	must(t, "ConsumeAuthorizationCode(expired, within retention)", s.ConsumeAuthorizationCode(c, late.Key, now()))
	wantErr(t, "ConsumeAuthorizationCode(expired) again", s.ConsumeAuthorizationCode(c, late.Key, now()), store.ErrConsumed)

	// Past the retention: gone. A store may refuse the write or accept it.
	gone := code("fam-gone", "gone", -store.CodeRetention-time.Second)
	_ = s.SaveAuthorizationCode(c, gone)
	_, err = s.GetAuthorizationCode(c, gone.Key)
	wantErr(t, "GetAuthorizationCode(past retention)", err, store.ErrNotFound)
	wantErr(t, "ConsumeAuthorizationCode(past retention)", s.ConsumeAuthorizationCode(c, gone.Key, now()), store.ErrNotFound)

	// A code whose retention ends shortly disappears then.
	soon := code("fam-soon", "soon", -store.CodeRetention+expiryWait)
	must(t, "SaveAuthorizationCode(retention ends soon)", s.SaveAuthorizationCode(c, soon))
	if !hasCode(t, s, soon.Key) {
		t.Fatal("code gone before the end of its retention")
	}
	time.Sleep(sleepPast)
	if hasCode(t, s, soon.Key) {
		t.Fatal("code still returned after ExpiresAt + CodeRetention")
	}
	wantErr(t, "ConsumeAuthorizationCode after the retention", s.ConsumeAuthorizationCode(c, soon.Key, now()), store.ErrNotFound)
}

func testCodeNoAliasing(t *testing.T, s store.Store) {
	c := ctx(t)
	cd := code("fam", "1", time.Minute)
	want := *cd
	want.Scopes = slices.Clone(cd.Scopes)
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, cd))
	cd.Scopes[0], cd.ClientID = "changed", "changed"
	got, err := s.GetAuthorizationCode(c, want.Key)
	must(t, "GetAuthorizationCode", err)
	equal(t, "code after mutating the saved record", got, &want)
	got.Scopes[0], got.ClientID = "changed", "changed"
	got, err = s.GetAuthorizationCode(c, want.Key)
	must(t, "GetAuthorizationCode", err)
	equal(t, "code after mutating a returned record", got, &want)
}

// --- families ---

func testRevokeFamily(t *testing.T, s store.Store) {
	c := ctx(t)
	// Family a: a code, the tokens it was exchanged for, rotated once.
	codeA := code("a", "a", time.Minute)
	must(t, "SaveAuthorizationCode(a)", s.SaveAuthorizationCode(c, codeA))
	must(t, "ConsumeAuthorizationCode(a)", s.ConsumeAuthorizationCode(c, codeA.Key, now()))
	at1, rt1 := tokens("a", "a1", time.Hour, 0)
	must(t, "SaveTokens(a)", s.SaveTokens(c, at1, rt1))
	time.Sleep(2 * time.Millisecond) // b is the newer grant
	at2, rt2 := tokens("a", "a2", time.Hour, 0)
	must(t, "RotateRefreshToken(a)", s.RotateRefreshToken(c, rt1, retiredOf(rt1, time.Hour), at2, rt2))
	// Family b, alike, of the same user and client.
	codeB := code("b", "b", time.Minute)
	must(t, "SaveAuthorizationCode(b)", s.SaveAuthorizationCode(c, codeB))
	bt1, brt1 := tokens("b", "b1", time.Hour, 0)
	must(t, "SaveTokens(b)", s.SaveTokens(c, bt1, brt1))
	bt2, brt2 := tokens("b", "b2", time.Hour, 0)
	must(t, "RotateRefreshToken(b)", s.RotateRefreshToken(c, brt1, retiredOf(brt1, time.Hour), bt2, brt2))
	// Family c: only a code, not yet exchanged.
	codeC := code("c", "c", time.Minute)
	must(t, "SaveAuthorizationCode(c)", s.SaveAuthorizationCode(c, codeC))

	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u1"})); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("grants before revocation: %q, want [b a]", got)
	}
	must(t, "RevokeFamily(a)", s.RevokeFamily(c, "a"))
	if hasAccess(t, s, at2.Key) || hasRefresh(t, s, rt2.Key) || hasRetired(t, s, rt1.Key) || hasCode(t, s, codeA.Key) {
		t.Fatal("RevokeFamily left a token, retired token or code of the family")
	}
	if !hasAccess(t, s, bt2.Key) || !hasRefresh(t, s, brt2.Key) || !hasRetired(t, s, brt1.Key) || !hasCode(t, s, codeB.Key) || !hasCode(t, s, codeC.Key) {
		t.Fatal("RevokeFamily removed another family's records")
	}
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u1"})); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("grants after revoking a: %q, want [b]", got)
	}
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u1", ClientID: "client"})); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("grants of the client after revoking a: %q, want [b]", got)
	}
	at3, rt3 := tokens("a", "a3", time.Hour, 0)
	wantErr(t, "RotateRefreshToken of a revoked family", s.RotateRefreshToken(c, rt2, nil, at3, rt3), store.ErrRevoked)
	if hasAccess(t, s, at3.Key) {
		t.Fatal("rotation in a revoked family stored tokens")
	}

	must(t, "RevokeFamily(a) again", s.RevokeFamily(c, "a"))
	must(t, "RevokeFamily(missing)", s.RevokeFamily(c, "missing"))
	must(t, "RevokeFamily(c), only a code", s.RevokeFamily(c, "c"))
	if hasCode(t, s, codeC.Key) {
		t.Fatal("RevokeFamily left the code of a family without tokens")
	}
	if !hasAccess(t, s, bt2.Key) || !hasCode(t, s, codeB.Key) {
		t.Fatal("RevokeFamily(c) removed family b's records")
	}
}

// testRevokedFamilyRefusesWrites: a revoked family takes no more writes,
// so tokens saved by a redemption that lost the race with a replay's
// revocation are never stored; other families are not affected.
func testRevokedFamilyRefusesWrites(t *testing.T, s store.Store) {
	c := ctx(t)
	// A redeemed code whose family is revoked before the tokens are saved.
	codeA := code("a", "a", time.Minute)
	must(t, "SaveAuthorizationCode(a)", s.SaveAuthorizationCode(c, codeA))
	must(t, "ConsumeAuthorizationCode(a)", s.ConsumeAuthorizationCode(c, codeA.Key, now()))
	must(t, "RevokeFamily(a)", s.RevokeFamily(c, "a"))
	at1, rt1 := tokens("a", "a1", time.Hour, 0)
	wantErr(t, "SaveTokens into a revoked family", s.SaveTokens(c, at1, rt1), store.ErrRevoked)
	at2, _ := tokens("a", "a2", time.Hour, 0)
	wantErr(t, "SaveTokens(at, nil) into a revoked family", s.SaveTokens(c, at2, nil), store.ErrRevoked)
	if hasAccess(t, s, at1.Key) || hasRefresh(t, s, rt1.Key) || hasAccess(t, s, at2.Key) {
		t.Fatal("SaveTokens stored tokens into a revoked family")
	}
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u1"})); len(got) != 0 {
		t.Fatalf("grants after a refused save: %q, want none", got)
	}
	wantErr(t, "SaveAuthorizationCode into a revoked family", s.SaveAuthorizationCode(c, code("a", "a-again", time.Minute)), store.ErrRevoked)
	if hasCode(t, s, store.Key{Family: "a", Signature: "code-a-again"}) {
		t.Fatal("SaveAuthorizationCode stored a code into a revoked family")
	}
	at3, rt3 := tokens("a", "a3", time.Hour, 0)
	wantErr(t, "RotateRefreshToken in a revoked family", s.RotateRefreshToken(c, rt1, retiredOf(rt1, time.Hour), at3, rt3), store.ErrRevoked)
	if hasAccess(t, s, at3.Key) || hasRetired(t, s, rt1.Key) {
		t.Fatal("RotateRefreshToken stored records into a revoked family")
	}
	// Revoking again keeps it revoked; so does revoking a family that
	// never had a record.
	must(t, "RevokeFamily(a) again", s.RevokeFamily(c, "a"))
	wantErr(t, "SaveTokens after a second revocation", s.SaveTokens(c, at1, rt1), store.ErrRevoked)
	must(t, "RevokeFamily(never)", s.RevokeFamily(c, "never"))
	atN, rtN := tokens("never", "n1", time.Hour, 0)
	wantErr(t, "SaveTokens into a family revoked before its first record", s.SaveTokens(c, atN, rtN), store.ErrRevoked)
	// Other families take writes.
	atB, rtB := tokens("b", "b1", time.Hour, 0)
	must(t, "SaveTokens(b)", s.SaveTokens(c, atB, rtB))
	must(t, "SaveAuthorizationCode(b)", s.SaveAuthorizationCode(c, code("b", "b", time.Minute)))
	if !hasAccess(t, s, atB.Key) {
		t.Fatal("revoking a family refused another family's tokens")
	}
}

// testRevokeRacesSave: a save racing with revocations of its family
// leaves no token stored once all are done, whichever ran first. In each
// round the save waits for a different number of the five revocations to
// return (none to all) and races the others.
func testRevokeRacesSave(t *testing.T, s store.Store) {
	c := ctx(t)
	for round := range 24 {
		family := fmt.Sprintf("race%d", round)
		at, rt := tokens(family, family, time.Hour, 0)
		after := round % 6
		var wg sync.WaitGroup
		start := make(chan struct{})
		revoked := make(chan struct{}, 5)
		errs := make(chan error, 6)
		wg.Go(func() {
			<-start
			for range after {
				<-revoked
			}
			if err := s.SaveTokens(c, at, rt); err != nil && !errors.Is(err, store.ErrRevoked) {
				errs <- fmt.Errorf("SaveTokens: %w", err)
			}
		})
		for range 5 {
			wg.Go(func() {
				<-start
				if err := s.RevokeFamily(c, family); err != nil {
					errs <- fmt.Errorf("RevokeFamily: %w", err)
				}
				revoked <- struct{}{}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if hasAccess(t, s, at.Key) || hasRefresh(t, s, rt.Key) {
			t.Fatalf("round %d: a save after %d of 5 revocations, racing the others, left tokens stored", round, after)
		}
	}
}

// --- grants ---

func testGrantsList(t *testing.T, s store.Store) {
	c := ctx(t)
	type saved struct {
		at  *store.AccessToken
		rt  *store.RefreshToken
		exp time.Time // the grant's
	}
	var all []saved
	save := func(family, client, user string, atTTL, rtTTL time.Duration, withRefresh bool) *store.Grant {
		t.Helper()
		at, rt := grantTokens(family, client, user, atTTL, rtTTL)
		exp := rt.ExpiresAt
		if !withRefresh {
			rt, exp = nil, at.ExpiresAt
		}
		must(t, "SaveTokens("+family+")", s.SaveTokens(c, at, rt))
		all = append(all, saved{at, rt, exp})
		// Keep creation times apart for a store that uses its own clock.
		time.Sleep(2 * time.Millisecond)
		return grantOf(at, exp)
	}
	g1 := save("g1", "c1", "u1", time.Hour, 24*time.Hour, true) // expires with its refresh token
	g2 := save("g2", "c2", "u1", time.Hour, 0, true)            // a refresh token that never expires
	g3 := save("g3", "c1", "u2", time.Hour, 48*time.Hour, true)
	g4 := save("g4", "c1", "", 30*time.Minute, 0, false)       // client credentials: no user, no refresh token
	g5 := save("g5", "c1", "u1", 2*time.Hour, time.Hour, true) // the access token outlives the refresh token
	g5.ExpiresAt = all[4].at.ExpiresAt

	check := func(f store.GrantFilter, want ...*store.Grant) {
		t.Helper()
		got := listGrants(t, s, f)
		if len(got) != len(want) {
			t.Fatalf("ListGrants(%+v): got %q, want %q", f, families(got), families(want))
		}
		for i := range want {
			equalGrant(t, fmt.Sprintf("ListGrants(%+v)[%d]", f, i), got[i], want[i])
		}
	}
	check(store.GrantFilter{UserID: "u1"}, g5, g2, g1)
	check(store.GrantFilter{UserID: "u2"}, g3)
	check(store.GrantFilter{UserID: "u1", ClientID: "c1"}, g5, g1)
	check(store.GrantFilter{UserID: "u1", ClientID: "c2"}, g2)
	check(store.GrantFilter{UserID: "u2", ClientID: "c2"})
	check(store.GrantFilter{UserID: "nobody"})
	_ = g4 // no user: in no grant index

	// Returned grants are copies.
	got := listGrants(t, s, store.GrantFilter{UserID: "u2"})
	got[0].Scopes[0], got[0].ClientID = "changed", "changed"
	check(store.GrantFilter{UserID: "u2"}, g3)
}

func testGrantsExpiry(t *testing.T, s store.Store) {
	c := ctx(t)
	// Short-lived access token only.
	atA, _ := grantTokens("short-at", "c", "u", expiryWait, 0)
	must(t, "SaveTokens(short-at)", s.SaveTokens(c, atA, nil))
	// Both tokens short-lived.
	atB, rtB := grantTokens("short-both", "c", "u", expiryWait, expiryWait)
	must(t, "SaveTokens(short-both)", s.SaveTokens(c, atB, rtB))
	// Short-lived access token, long-lived refresh token.
	atC, rtC := grantTokens("long-rt", "c", "u", expiryWait, time.Hour)
	must(t, "SaveTokens(long-rt)", s.SaveTokens(c, atC, rtC))
	// Short-lived refresh token, long-lived access token.
	atD, rtD := grantTokens("long-at", "c", "u", time.Hour, expiryWait)
	must(t, "SaveTokens(long-at)", s.SaveTokens(c, atD, rtD))

	got := families(listGrants(t, s, store.GrantFilter{UserID: "u"}))
	slices.Sort(got)
	if want := []string{"long-at", "long-rt", "short-at", "short-both"}; !slices.Equal(got, want) {
		t.Fatalf("grants before expiry: %q, want %q", got, want)
	}
	time.Sleep(sleepPast)
	gs := listGrants(t, s, store.GrantFilter{UserID: "u"})
	got = families(gs)
	slices.Sort(got)
	if want := []string{"long-at", "long-rt"}; !slices.Equal(got, want) {
		t.Fatalf("grants after their tokens expired: %q, want %q", got, want)
	}
	for _, g := range gs {
		want := map[string]time.Time{"long-at": atD.ExpiresAt, "long-rt": rtC.ExpiresAt}[g.Family]
		if g.ExpiresAt.Sub(want).Abs() > time.Millisecond {
			t.Fatalf("grant %s expires at %v, want %v", g.Family, g.ExpiresAt, want)
		}
	}
	if got := families(listGrants(t, s, store.GrantFilter{UserID: "u", ClientID: "c"})); len(got) != 2 {
		t.Fatalf("grants of the client after expiry: %q, want 2", got)
	}
}

func testGrantsRotation(t *testing.T, s store.Store) {
	c := ctx(t)
	// The authorization code the tokens come from is in their family.
	must(t, "SaveAuthorizationCode", s.SaveAuthorizationCode(c, code("fam", "1", time.Minute)))
	before := now()
	at1, rt1 := grantTokens("fam", "c", "u", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	after := time.Now()
	gs := listGrants(t, s, store.GrantFilter{UserID: "u"})
	if len(gs) != 1 {
		t.Fatalf("ListGrants: %d grants, want 1", len(gs))
	}
	created := gs[0].CreatedAt
	if created.Before(before) || created.After(after) {
		t.Fatalf("grant CreatedAt %v, not within the save [%v, %v]", created, before, after)
	}
	want := grantOf(at1, rt1.ExpiresAt)
	want.CreatedAt = created
	equalGrant(t, "grant after SaveTokens", gs[0], want)

	// A rotation narrowing the scopes, with a shorter-lived refresh token.
	time.Sleep(2 * time.Millisecond)
	at2, rt2 := tokens("fam", "2", time.Hour, 12*time.Hour)
	at2.ClientID, rt2.ClientID, at2.UserID, rt2.UserID = "c", "c", "u", "u"
	at2.Username, rt2.Username = "name-u", "name-u"
	at2.Scopes, rt2.Scopes = []string{"read"}, []string{"read"}
	must(t, "RotateRefreshToken", s.RotateRefreshToken(c, rt1, retiredOf(rt1, time.Hour), at2, rt2))
	want.Scopes, want.ExpiresAt = []string{"read"}, rt2.ExpiresAt
	gs = listGrants(t, s, store.GrantFilter{UserID: "u", ClientID: "c"})
	if len(gs) != 1 {
		t.Fatalf("ListGrants after rotation: %d grants, want 1", len(gs))
	}
	equalGrant(t, "grant after a narrowing rotation (CreatedAt kept)", gs[0], want)

	// A rotation that drops the refresh token: the grant ends with the
	// access token.
	at3, _ := tokens("fam", "3", 30*time.Minute, 0)
	at3.ClientID, at3.UserID, at3.Username, at3.Scopes = "c", "u", "name-u", []string{"read"}
	old, err := s.GetRefreshToken(c, rt2.Key) // a rotation keeps the CreatedAt of the old token read
	must(t, "GetRefreshToken", err)
	must(t, "RotateRefreshToken(no new refresh token)", s.RotateRefreshToken(c, old, nil, at3, nil))
	want.ExpiresAt = at3.ExpiresAt
	gs = listGrants(t, s, store.GrantFilter{UserID: "u"})
	if len(gs) != 1 {
		t.Fatalf("ListGrants after the last rotation: %d grants, want 1", len(gs))
	}
	equalGrant(t, "grant after a rotation without refresh token", gs[0], want)
}

func testGrantsTokenRevocation(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := grantTokens("fam", "c", "u", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	must(t, "RevokeAccessToken", s.RevokeAccessToken(c, at.Key))
	gs := listGrants(t, s, store.GrantFilter{UserID: "u"})
	if len(gs) != 1 {
		t.Fatalf("grant gone while its refresh token lives: %q", families(gs))
	}
	equalGrant(t, "grant with only a refresh token that never expires", gs[0], &store.Grant{
		Family: "fam", ClientID: "c", UserID: "u", Username: "name-u",
		Scopes: at.Scopes, CreatedAt: gs[0].CreatedAt,
	})
	must(t, "RevokeRefreshToken", s.RevokeRefreshToken(c, rt.Key))
	if gs := listGrants(t, s, store.GrantFilter{UserID: "u"}); len(gs) != 0 {
		t.Fatalf("grant listed after all its tokens were revoked: %q", families(gs))
	}
	if gs := listGrants(t, s, store.GrantFilter{UserID: "u", ClientID: "c"}); len(gs) != 0 {
		t.Fatalf("grant listed by client after all its tokens were revoked: %q", families(gs))
	}

	// The other way round: the refresh token first.
	at2, rt2 := grantTokens("fam2", "c", "u", time.Hour, 24*time.Hour)
	must(t, "SaveTokens(fam2)", s.SaveTokens(c, at2, rt2))
	must(t, "RevokeRefreshToken(fam2)", s.RevokeRefreshToken(c, rt2.Key))
	gs = listGrants(t, s, store.GrantFilter{UserID: "u"})
	if len(gs) != 1 || gs[0].ExpiresAt.Sub(at2.ExpiresAt).Abs() > time.Millisecond {
		t.Fatalf("after revoking the refresh token: grants %+v, want fam2 expiring with its access token at %v", gs, at2.ExpiresAt)
	}
}

func testGrantsInvalidFilter(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := grantTokens("fam", "c", "u", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	if gs, err := s.ListGrants(c, store.GrantFilter{}); err == nil {
		t.Fatalf("ListGrants(zero filter) = %d grants and no error; the zero filter is not allowed", len(gs))
	}
	if gs, err := s.ListGrants(c, store.GrantFilter{ClientID: "c"}); err == nil {
		t.Fatalf("ListGrants(client only) = %d grants and no error; grants are indexed by user only", len(gs))
	}
}

// --- limiter ---

// exhaust calls Allow limit+1 times under a fresh key and returns the key
// and the last call's answer, retrying with another key when a window
// boundary fell between the calls.
func exhaust(t *testing.T, s store.Store, name string, limit int, window time.Duration) (string, time.Duration) {
	t.Helper()
	c := ctx(t)
	for attempt := range 5 {
		key := fmt.Sprintf("%s-%d", name, attempt)
		for i := range limit {
			ok, retry, err := s.Allow(c, key, limit, window)
			must(t, "Allow", err)
			if !ok {
				t.Fatalf("Allow #%d of %d under %q refused (retryAfter %v)", i+1, limit, key, retry)
			}
		}
		ok, retry, err := s.Allow(c, key, limit, window)
		must(t, "Allow", err)
		if !ok {
			return key, retry
		}
		// A new window began during the calls: try again.
	}
	t.Fatalf("Allow never refused call %d of limit %d in a window of %v", limit+1, limit, window)
	return "", 0
}

func testLimiterLimit(t *testing.T, s store.Store) {
	c := ctx(t)
	const window = time.Hour
	key, retry := exhaust(t, s, "login:alice", 3, window)
	if retry <= 0 || retry > window {
		t.Fatalf("retryAfter %v, want within (0, %v]", retry, window)
	}
	// Still refused, and the window's end does not move.
	ok, retry2, err := s.Allow(c, key, 3, window)
	must(t, "Allow", err)
	if ok {
		t.Fatal("Allow past the limit accepted")
	}
	if retry2 <= 0 || retry2 > retry {
		t.Fatalf("second retryAfter %v, want within (0, %v]", retry2, retry)
	}
	// A higher limit on the same key and window counts the same events.
	ok, _, err = s.Allow(c, key, 10, window)
	must(t, "Allow(limit 10)", err)
	if !ok {
		t.Fatal("Allow with a higher limit refused the sixth event")
	}
	for _, bad := range []struct {
		key    string
		limit  int
		window time.Duration
	}{{"", 3, window}, {"k", 0, window}, {"k", 3, 0}, {"k", 3, -time.Second}} {
		if ok, _, err := s.Allow(c, bad.key, bad.limit, bad.window); err == nil || ok {
			t.Errorf("Allow(%q, %d, %v) = %v, %v; want an error", bad.key, bad.limit, bad.window, ok, err)
		}
	}
}

func testLimiterNewWindow(t *testing.T, s store.Store) {
	c := ctx(t)
	const window = 200 * time.Millisecond
	key, retry := exhaust(t, s, "token:client", 3, window)
	if retry <= 0 || retry > window {
		t.Fatalf("retryAfter %v, want within (0, %v]", retry, window)
	}
	time.Sleep(retry + 20*time.Millisecond)
	ok, _, err := s.Allow(c, key, 3, window)
	must(t, "Allow in the next window", err)
	if !ok {
		t.Fatal("Allow refused in a new window")
	}
}

func testLimiterDistinctKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	const window = time.Hour
	key, _ := exhaust(t, s, "ip:192.0.2.1", 2, window)
	for _, other := range []string{"ip:192.0.2.2", key + "x", "x" + key} {
		for i := range 2 {
			ok, _, err := s.Allow(c, other, 2, window)
			must(t, "Allow("+other+")", err)
			if !ok {
				t.Fatalf("Allow #%d under %q refused after another key was exhausted", i+1, other)
			}
		}
	}
	// A different window length is a different counter too.
	ok, _, err := s.Allow(c, key, 2, 2*window)
	must(t, "Allow(other window)", err)
	if !ok {
		t.Fatal("Allow with another window length refused")
	}
	ok, _, err = s.Allow(c, key, 2, window)
	must(t, "Allow", err)
	if ok {
		t.Fatal("the exhausted key was reset by other keys")
	}
}

// testLimiterSliding: no interval of length window holds more than limit
// allowed events, across what would be a fixed window's boundary: events
// late in one epoch-aligned window leave the next one's start refused, and
// are allowed again only once the oldest has left the window.
func testLimiterSliding(t *testing.T, s store.Store) {
	c := ctx(t)
	const window = time.Second
	// Late in an epoch-aligned window: 700 to 800 ms into it.
	for time.Now().UnixMilli()%1000 < 700 || time.Now().UnixMilli()%1000 > 800 {
		time.Sleep(5 * time.Millisecond)
	}
	first := time.Now()
	for i := range 3 {
		ok, _, err := s.Allow(c, "sliding", 3, window)
		must(t, "Allow", err)
		if !ok {
			t.Fatalf("Allow #%d of 3 refused", i+1)
		}
	}
	// Just after the aligned boundary, well within a window of the events.
	time.Sleep(time.Until(first.Truncate(window).Add(window + 100*time.Millisecond)))
	for range 3 { // refused events are not counted, and do not push back
		ok, retry, err := s.Allow(c, "sliding", 3, window)
		must(t, "Allow", err)
		if ok {
			t.Fatalf("Allow at %v after 3 events in a window of %v: got allowed, want refused (the limit holds across a fixed window's boundary)", time.Since(first).Round(time.Millisecond), window)
		}
		if retry <= 0 || retry > window {
			t.Fatalf("retryAfter %v, want within (0, %v]", retry, window)
		}
	}
	time.Sleep(time.Until(first.Add(window + 100*time.Millisecond)))
	ok, _, err := s.Allow(c, "sliding", 3, window)
	must(t, "Allow", err)
	if !ok {
		t.Fatal("Allow once the events left the window: got refused, want allowed")
	}
}

// testLimiterForget: Forget drops a key's events for one window length.
func testLimiterForget(t *testing.T, s store.Store) {
	c := ctx(t)
	const window = time.Hour
	key, _ := exhaust(t, s, "pw:alice", 2, window)
	other, _ := exhaust(t, s, "pw:bob", 2, window)
	must(t, "Forget(other window)", s.Forget(c, key, 2*window))
	if ok, _, err := s.Allow(c, key, 2, window); err != nil || ok {
		t.Fatalf("after Forget of another window length: Allow = %v, %v; want refused", ok, err)
	}
	must(t, "Forget", s.Forget(c, key, window))
	for i := range 2 {
		if ok, _, err := s.Allow(c, key, 2, window); err != nil || !ok {
			t.Fatalf("Allow #%d after Forget = %v, %v; want allowed", i+1, ok, err)
		}
	}
	if ok, _, err := s.Allow(c, other, 2, window); err != nil || ok {
		t.Fatalf("another key after Forget: Allow = %v, %v; want still refused", ok, err)
	}
	if err := s.Forget(c, "", window); err == nil {
		t.Error("Forget of an empty key: got no error")
	}
}
