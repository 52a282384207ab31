package storetest

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// rotatorTests are the contract of store.RefreshRotator, run when the
// store implements it.
var rotatorTests = []contractTest[store.Store]{
	{"RotateRefresh/Basic", testRotateRefresh},
	{"RotateRefresh/Refusals", testRotateRefreshRefusals},
	{"RotateRefresh/Revoked", testRotateRefreshRevoked},
	{"RotateRefresh/Concurrent", testRotateRefreshConcurrent},
	{"RotateRefresh/NeverExpires", testRotateRefreshNeverExpires},
}

func rotator(t *testing.T, s store.Store) store.RefreshRotator {
	t.Helper()
	r, ok := s.(store.RefreshRotator)
	if !ok {
		t.Skip("the store does not implement store.RefreshRotator")
	}
	return r
}

// rotateReq is a rotation of family's refresh token to the tokens named
// "at-<name>" and "rt-<name>", for application "client".
func rotateReq(family, name string, n time.Time, rtTTL time.Duration) store.RotateRefresh {
	req := store.RotateRefresh{
		ClientID: "client", Now: n,
		Access: store.Key{Family: family, Signature: "at-" + name}, AccessExpiresAt: n.Add(time.Hour),
		Refresh: store.Key{Family: family, Signature: "rt-" + name},
	}
	if rtTTL != 0 {
		req.RefreshExpiresAt = n.Add(rtTTL)
	}
	return req
}

// testRotateRefresh: the new pair copies every field of the old refresh
// token but its Key and times, the old pair is gone, the retired record is
// filed, the user's grant still lists, and the old token is returned.
func testRotateRefresh(t *testing.T, s store.Store) {
	r, c := rotator(t, s), ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	at1.Generation, rt1.Generation = 4, 4
	at1.Audience, rt1.Resources = []string{"https://api.example/a", "https://api.example/b"}, []string{"https://api.example/a", "https://api.example/b"}
	created := rt1.IssuedAt.Add(-time.Hour)
	at1.GrantCreatedAt, rt1.GrantCreatedAt = created, created
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	stored, err := s.GetRefreshToken(c, rt1.Key)
	must(t, "GetRefreshToken", err)

	n := now().Add(time.Second)
	req := rotateReq("fam", "2", n, 24*time.Hour)
	req.Generation, req.Ceiling = 4, []string{"read", "write", "admin"}
	old, err := r.RotateRefresh(c, rt1.Key, req)
	must(t, "RotateRefresh", err)
	equal(t, "the old refresh token returned", old, stored)
	if hasAccess(t, s, at1.Key) || hasRefresh(t, s, rt1.Key) {
		t.Fatal("the old pair is still there after RotateRefresh")
	}

	wantRT := *stored
	wantRT.Key, wantRT.IssuedAt, wantRT.ExpiresAt = req.Refresh, n, req.RefreshExpiresAt
	gotRT, err := s.GetRefreshToken(c, req.Refresh)
	must(t, "GetRefreshToken(new)", err)
	equal(t, "the new refresh token", gotRT, &wantRT)

	gotAT, err := s.GetAccessToken(c, req.Access)
	must(t, "GetAccessToken(new)", err)
	// Every field the two records share comes from the old refresh token.
	wantAT := &store.AccessToken{}
	src, dst := reflect.ValueOf(wantRT), reflect.ValueOf(wantAT).Elem()
	for i := range dst.NumField() {
		if f := src.FieldByName(dst.Type().Field(i).Name); f.IsValid() {
			dst.Field(i).Set(f)
		}
	}
	wantAT.Key, wantAT.ExpiresAt = req.Access, req.AccessExpiresAt
	wantAT.Audience = wantRT.Resources // all of the grant's resources
	equal(t, "the new access token", gotAT, wantAT)

	// No retired record is filed: the old token is recognised from the
	// new one.
	inferred(t, s, "the rotated token", rt1.Key, gotRT)
	grants, err := s.ListGrants(c, store.GrantFilter{UserID: "u1"})
	must(t, "ListGrants", err)
	if len(grants) != 1 || grants[0].Family != "fam" {
		t.Errorf("ListGrants after RotateRefresh: got %+v, want the one grant", grants)
	}

	// The new refresh token rotates in turn; the old one never again.
	again := rotateReq("fam", "3", n, 24*time.Hour)
	again.Generation = 4
	_, err = r.RotateRefresh(c, rt1.Key, again)
	wantErr(t, "RotateRefresh of the rotated token", err, store.ErrRotated)
	req3 := rotateReq("fam", "3", n.Add(time.Second), 24*time.Hour)
	req3.Generation = 4
	if _, err := r.RotateRefresh(c, req.Refresh, req3); err != nil {
		t.Fatalf("RotateRefresh of the new token: %v", err)
	}
}

// testRotateRefreshRefusals: another client, another generation, a scope
// outside the ceiling, an unknown or expired token: the refusal's error,
// and nothing changes.
func testRotateRefreshRefusals(t *testing.T, s store.Store) {
	r, c := rotator(t, s), ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	atE, rtE := tokens("short", "1", time.Hour, expiryWait)
	must(t, "SaveTokens(short)", s.SaveTokens(c, atE, rtE))
	atB, rtB := tokens("bound", "1", time.Hour, 24*time.Hour)
	atB.JKT, rtB.JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	must(t, "SaveTokens(bound)", s.SaveTokens(c, atB, rtB))
	time.Sleep(sleepPast)
	for _, tc := range []struct {
		name string
		key  store.Key
		mod  func(*store.RotateRefresh)
		want error
	}{
		{"another client", rt1.Key, func(q *store.RotateRefresh) { q.ClientID = "other" }, store.ErrGrantMismatch},
		{"another generation", rt1.Key, func(q *store.RotateRefresh) { q.Generation = 9 }, store.ErrGrantMismatch},
		{"a scope outside the ceiling", rt1.Key, func(q *store.RotateRefresh) { q.Ceiling = []string{"read"} }, store.ErrCeiling},
		{"another signature", store.Key{Family: "fam", Signature: "rt-x"}, nil, store.ErrRotated},
		{"another signature, another client", store.Key{Family: "fam", Signature: "rt-x"}, func(q *store.RotateRefresh) { q.ClientID = "other" }, store.ErrGrantMismatch},
		{"another signature, another generation", store.Key{Family: "fam", Signature: "rt-x"}, func(q *store.RotateRefresh) { q.Generation = 9 }, store.ErrGrantMismatch},
		{"another signature in a bound family", store.Key{Family: "bound", Signature: "rt-x"}, nil, store.ErrRotated},
		{"an unknown family", store.Key{Family: "none", Signature: "rt-1"}, nil, store.ErrNotFound},
		{"an expired token", rtE.Key, nil, store.ErrNotFound},
		{"a DPoP-bound token", rtB.Key, nil, store.ErrGrantMismatch},
	} {
		req := rotateReq(tc.key.Family, "2", now(), 24*time.Hour)
		if tc.mod != nil {
			tc.mod(&req)
		}
		_, err := r.RotateRefresh(c, tc.key, req)
		wantErr(t, tc.name, err, tc.want)
		if hasAccess(t, s, req.Access) || hasRefresh(t, s, req.Refresh) {
			t.Fatalf("%s: the refused rotation stored new tokens", tc.name)
		}
	}
	if !hasAccess(t, s, at1.Key) || !hasRefresh(t, s, rt1.Key) || !hasRefresh(t, s, rtB.Key) {
		t.Fatal("a refused rotation removed the current pair")
	}
}

// testRotateRefreshRevoked: a revoked family refuses with ErrRevoked.
func testRotateRefreshRevoked(t *testing.T, s store.Store) {
	r, c := rotator(t, s), ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	must(t, "RevokeFamily", s.RevokeFamily(c, "fam"))
	req := rotateReq("fam", "2", now(), 24*time.Hour)
	_, err := r.RotateRefresh(c, rt1.Key, req)
	wantErr(t, "RotateRefresh in a revoked family", err, store.ErrRevoked)
	if hasAccess(t, s, req.Access) || hasRefresh(t, s, req.Refresh) {
		t.Fatal("a revoked family got new tokens")
	}
}

// testRotateRefreshConcurrent: of concurrent rotations of one token,
// exactly one succeeds and the rest find it rotated.
func testRotateRefreshConcurrent(t *testing.T, s store.Store) {
	r, c := rotator(t, s), ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	var wins, gone atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := r.RotateRefresh(c, rt1.Key, rotateReq("fam", string(rune('a'+i)), now(), 24*time.Hour))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrRotated):
				gone.Add(1)
			default:
				t.Errorf("concurrent RotateRefresh: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || gone.Load() != 7 {
		t.Fatalf("8 concurrent rotations: got %d won and %d found the token rotated, want 1 and 7", wins.Load(), gone.Load())
	}
}

// testRotateRefreshNeverExpires: a refresh token without expiry rotates to
// one without expiry, which the rotated token is recognised from.
func testRotateRefreshNeverExpires(t *testing.T, s store.Store) {
	r, c := rotator(t, s), ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	n := now()
	req := rotateReq("fam", "2", n, 0)
	_, err := r.RotateRefresh(c, rt1.Key, req)
	must(t, "RotateRefresh", err)
	got, err := s.GetRefreshToken(c, req.Refresh)
	must(t, "GetRefreshToken(new)", err)
	if !got.ExpiresAt.IsZero() {
		t.Errorf("new refresh token expires at %v, want never", got.ExpiresAt)
	}
	inferred(t, s, "the rotated token", rt1.Key, got)
}
