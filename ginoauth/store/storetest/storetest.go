// Package storetest checks that a store.Store keeps the contract documented
// in package store. The toolkit's own stores run it; run it against your own
// store too:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mystore.New(...) })
//	}
//
// The tests rely on real time (a few sleeps of a few hundred milliseconds),
// not on a fake clock, so they hold for stores whose expiry is done by the
// backend, such as Redis TTLs.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Run runs the contract tests as parallel subtests of t. newStore is called
// once per subtest, possibly concurrently, and must return an empty store
// that no other subtest uses (with Redis, give each one its own key prefix).
// It should register any clean-up with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	runAll(t, tests, newStore)
	runAll(t, deviceTests, newStore)
	runAll(t, rotatorTests, newStore)
	runAll(t, freshTests, newStore)
	runAll(t, pushedTests, newStore)
}

// contractTest is one subtest of a contract for stores of type S.
type contractTest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

// runAll runs tests as parallel subtests, each on a fresh store.
func runAll[S comparable](t *testing.T, tests []contractTest[S], newStore func(t *testing.T) S) {
	t.Helper()
	var none S
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			if s == none {
				t.Fatal("newStore returned nil")
			}
			tc.run(t, s)
		})
	}
}

var tests = []contractTest[store.Store]{
	{"Ping", testPing},
	{"Applications/CreateGet", testAppCreateGet},
	{"Applications/Duplicate", testAppDuplicate},
	{"Applications/Update", testAppUpdate},
	{"Applications/Delete", testAppDelete},
	{"Applications/List", testAppList},
	{"Applications/NoAliasing", testAppNoAliasing},
	{"Users/CreateGet", testUserCreateGet},
	{"Users/DuplicateUsername", testUserDuplicateUsername},
	{"Users/DuplicateID", testUserDuplicateID},
	{"Users/UsernameIsExact", testUserUsernameExact},
	{"Users/NoAliasing", testUserNoAliasing},
	{"Tokens/SaveGet", testTokenSaveGet},
	{"Tokens/SaveWithoutRefresh", testTokenSaveWithoutRefresh},
	{"Tokens/Missing", testTokenMissing},
	{"Tokens/Revoke", testTokenRevoke},
	{"Tokens/Expiry", testTokenExpiry},
	{"Tokens/SavedExpired", testTokenSavedExpired},
	{"Tokens/NoAliasing", testTokenNoAliasing},
	{"Rotation/Basic", testRotate},
	{"Rotation/WithoutNewRefresh", testRotateWithoutRefresh},
	{"Rotation/Revoked", testRotateRevoked},
	{"Rotation/Expired", testRotateExpired},
	{"Rotation/Concurrent", testRotateConcurrent},
	{"Rotation/Retired", testRotateRetired},
	{"Rotation/RetiredNil", testRotateRetiredNil},
	{"Rotation/RetiredExpiry", testRotateRetiredExpiry},
	{"Codes/SaveGet", testCodeSaveGet},
	{"Codes/Consume", testCodeConsume},
	{"Codes/ConcurrentConsume", testCodeConcurrentConsume},
	{"Codes/Retention", testCodeRetention},
	{"Codes/NoAliasing", testCodeNoAliasing},
	{"Family/Revoke", testRevokeFamily},
	{"Family/RevokedRefusesWrites", testRevokedFamilyRefusesWrites},
	{"Family/RevokeRacesSave", testRevokeRacesSave},
	{"Grants/List", testGrantsList},
	{"Grants/Expiry", testGrantsExpiry},
	{"Grants/Rotation", testGrantsRotation},
	{"Grants/TokenRevocation", testGrantsTokenRevocation},
	{"Grants/InvalidFilter", testGrantsInvalidFilter},
	{"Family/Replace", testFamilyReplace},
	{"Family/SignatureMismatch", testSignatureMismatch},
	{"Applications/Generations", testAppGenerations},
	{"Grants/UserIndex", testUserIndex},
	{"Limiter/Limit", testLimiterLimit},
	{"Limiter/NewWindow", testLimiterNewWindow},
	{"Limiter/DistinctKeys", testLimiterDistinctKeys},
	{"Limiter/Sliding", testLimiterSliding},
	{"Limiter/Forget", testLimiterForget},
	{"Replays/FirstUse", testFirstUse},
	{"Replays/Concurrent", testFirstUseConcurrent},
	{"Replays/Expiry", testFirstUseExpiry},
	{"SigningKeys/SaveListDelete", testSigningKeys},
	{"Codes/OIDC", testCodeOIDC},
	{"Tokens/Audience", testAudience},
	{"Tokens/JKT", testJKT},
}

// expiryWait is how far ahead short-lived records expire, and sleepPast how
// long the tests sleep to be sure they have.
const (
	expiryWait = 150 * time.Millisecond
	sleepPast  = 300 * time.Millisecond
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// now returns the current time in UTC to the millisecond, which every
// store keeps (redisstore keeps times as Unix milliseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// equal compares two records after normalising what an encoding may
// legitimately change: time locations and monotonic readings, and nil
// versus empty slices.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(reflect.ValueOf(got)), normalize(reflect.ValueOf(want))
	if !reflect.DeepEqual(g.Interface(), w.Interface()) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g.Interface(), w.Interface())
	}
}

var timeType = reflect.TypeFor[time.Time]()

func normalize(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(normalize(v.Elem()))
		return p
	case reflect.Struct:
		if v.Type() == timeType {
			tm := v.Interface().(time.Time)
			if tm.IsZero() {
				return reflect.ValueOf(time.Time{})
			}
			return reflect.ValueOf(tm.UTC().Round(0))
		}
		c := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(normalize(v.Index(i)))
		}
		return c
	}
	return v
}

// --- fixtures ---

func newApp(id string) *store.Application {
	return &store.Application{
		ClientID:      id,
		SecretHash:    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
		Name:          "App " + id,
		ClientType:    store.Confidential,
		GrantTypes:    []string{store.GrantAuthorizationCode, store.GrantClientCredentials},
		RedirectURIs:  []string{"https://example.com/cb"},
		AllowedScopes: []string{"read", "write"},
		UserID:        "owner",
		CreatedAt:     now(),
		// Client metadata (RFC 7591): kept as given, the JWK Set included.
		PostLogoutRedirectURIs:   []string{"https://example.com/bye"},
		TokenEndpointAuthMethod:  store.AuthPrivateKeyJWT,
		JWKS:                     json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`),
		IDTokenSignedResponseAlg: store.AlgES256,
		AccessTokenFormat:        store.TokenFormatJWT,
		RegistrationTokenHash:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

func newUser(id, username string) *store.User {
	return &store.User{
		ID:           id,
		Username:     username,
		PasswordHash: "$2a$10$abcdefghijklmnopqrstuv",
		Email:        username + "@example.com",
		FirstName:    "First",
		LastName:     "Last",
		IsActive:     true,
		DateJoined:   now(),
	}
}

// tokens returns an access token and a refresh token of one family, issued
// together, the access token expiring in atTTL and the refresh token in
// rtTTL (0: never; negative: already expired).
func tokens(family, name string, atTTL, rtTTL time.Duration) (*store.AccessToken, *store.RefreshToken) {
	n := now()
	ak := store.Key{Family: family, Signature: "at-" + name}
	rk := store.Key{Family: family, Signature: "rt-" + name}
	at := &store.AccessToken{
		Key: ak, ClientID: "client", UserID: "u1", Username: "alice",
		Scopes:   []string{"read", "write"},
		IssuedAt: n, ExpiresAt: n.Add(atTTL), GrantCreatedAt: n,
	}
	rt := &store.RefreshToken{
		Key: rk, ClientID: "client", UserID: "u1", Username: "alice",
		Scopes: []string{"read", "write"}, IssuedAt: n, GrantCreatedAt: n,
	}
	if rtTTL != 0 {
		rt.ExpiresAt = n.Add(rtTTL)
	}
	return at, rt
}

func hasAccess(t *testing.T, s store.Store, k store.Key) bool {
	t.Helper()
	_, err := s.GetAccessToken(ctx(t), k)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAccessToken(%v): %v", k, err)
	}
	return err == nil
}

func hasRefresh(t *testing.T, s store.Store, k store.Key) bool {
	t.Helper()
	_, err := s.GetRefreshToken(ctx(t), k)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRefreshToken(%v): %v", k, err)
	}
	return err == nil
}

// --- tests ---

func testPing(t *testing.T, s store.Store) {
	must(t, "Ping", s.Ping(ctx(t)))
}

func testAppCreateGet(t *testing.T, s store.Store) {
	c := ctx(t)
	app := newApp("app1")
	must(t, "CreateApplication", s.CreateApplication(c, app))
	got, err := s.GetApplication(c, "app1")
	must(t, "GetApplication", err)
	equal(t, "GetApplication", got, app)

	public := newApp("public")
	public.ClientType, public.SecretHash = store.Public, ""
	public.RedirectURIs, public.AllowedScopes, public.UserID = nil, nil, ""
	public.SkipAuthorization = true
	public.RequirePushedAuthorizationRequests = true
	must(t, "CreateApplication(public)", s.CreateApplication(c, public))
	got, err = s.GetApplication(c, "public")
	must(t, "GetApplication(public)", err)
	equal(t, "GetApplication(public)", got, public)

	// A client_secret_jwt client keeps its secret sealed, as bytes the
	// store only keeps.
	sealed := newApp("hs256")
	sealed.TokenEndpointAuthMethod, sealed.JWKS = store.AuthClientSecretJWT, nil
	sealed.SealedSecret = []byte{0, 1, 2, 0xfe, 0xff, '"', '\\', 0x80}
	must(t, "CreateApplication(client_secret_jwt)", s.CreateApplication(c, sealed))
	got, err = s.GetApplication(c, "hs256")
	must(t, "GetApplication(client_secret_jwt)", err)
	equal(t, "GetApplication(client_secret_jwt)", got, sealed)
	got.SealedSecret[0] = 9 // the caller's copy
	again, err := s.GetApplication(c, "hs256")
	must(t, "GetApplication(client_secret_jwt) again", err)
	equal(t, "GetApplication(client_secret_jwt) after changing a returned copy", again, sealed)

	_, err = s.GetApplication(c, "missing")
	wantErr(t, "GetApplication(missing)", err, store.ErrNotFound)
}

func testAppDuplicate(t *testing.T, s store.Store) {
	c := ctx(t)
	first := newApp("dup")
	must(t, "CreateApplication", s.CreateApplication(c, first))
	second := newApp("dup")
	second.Name = "Impostor"
	wantErr(t, "CreateApplication(duplicate)", s.CreateApplication(c, second), store.ErrDuplicate)
	got, err := s.GetApplication(c, "dup")
	must(t, "GetApplication", err)
	equal(t, "application after duplicate create", got, first)
}

func testAppUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	app := newApp("app1")
	must(t, "CreateApplication", s.CreateApplication(c, app))
	app.Name = "Renamed"
	app.GrantTypes = []string{store.GrantPassword}
	app.RedirectURIs = append(app.RedirectURIs, "https://example.com/cb2")
	app.RegistrationTokenHash = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" // rotated
	must(t, "UpdateApplication", s.UpdateApplication(c, app))
	got, err := s.GetApplication(c, "app1")
	must(t, "GetApplication", err)
	equal(t, "application after update", got, app)

	wantErr(t, "UpdateApplication(missing)", s.UpdateApplication(c, newApp("missing")), store.ErrNotFound)
	_, err = s.GetApplication(c, "missing")
	wantErr(t, "GetApplication after update of missing", err, store.ErrNotFound)
}

func testAppDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	must(t, "CreateApplication", s.CreateApplication(c, newApp("app1")))
	must(t, "CreateApplication", s.CreateApplication(c, newApp("app2")))
	must(t, "DeleteApplication", s.DeleteApplication(c, "app1"))
	_, err := s.GetApplication(c, "app1")
	wantErr(t, "GetApplication after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteApplication again", s.DeleteApplication(c, "app1"), store.ErrNotFound)
	wantErr(t, "DeleteApplication(missing)", s.DeleteApplication(c, "missing"), store.ErrNotFound)
	if _, err := s.GetApplication(c, "app2"); err != nil {
		t.Fatalf("GetApplication(app2) after deleting app1: %v", err)
	}
	// The ClientID is free again.
	must(t, "CreateApplication after delete", s.CreateApplication(c, newApp("app1")))
}

func testAppList(t *testing.T, s store.Store) {
	c := ctx(t)
	list, err := s.ListApplications(c)
	must(t, "ListApplications(empty)", err)
	if len(list) != 0 {
		t.Fatalf("ListApplications on an empty store: got %d applications", len(list))
	}
	ids := []string{"charlie", "alpha", "echo", "bravo", "delta"}
	apps := map[string]*store.Application{}
	for _, id := range ids {
		apps[id] = newApp(id)
		must(t, "CreateApplication("+id+")", s.CreateApplication(c, apps[id]))
	}
	must(t, "DeleteApplication(echo)", s.DeleteApplication(c, "echo"))
	list, err = s.ListApplications(c)
	must(t, "ListApplications", err)
	var got []string
	for _, a := range list {
		got = append(got, a.ClientID)
		equal(t, "listed application "+a.ClientID, a, apps[a.ClientID])
	}
	want := []string{"alpha", "bravo", "charlie", "delta"}
	if !slices.Equal(got, want) {
		t.Fatalf("ListApplications: got %v, want %v", got, want)
	}
}

func testAppNoAliasing(t *testing.T, s store.Store) {
	c := ctx(t)
	app := newApp("app1")
	want := newApp("app1")
	want.CreatedAt = app.CreatedAt
	must(t, "CreateApplication", s.CreateApplication(c, app))
	want.Generation = app.Generation
	// Mutating the record passed in must not change the stored one.
	app.Name = "changed"
	app.GrantTypes[0] = "changed"
	app.RedirectURIs[0] = "changed"
	app.AllowedScopes[0] = "changed"

	got, err := s.GetApplication(c, "app1")
	must(t, "GetApplication", err)
	equal(t, "after mutating the created record", got, want)

	// Nor must mutating a returned record.
	got.Name = "changed"
	got.GrantTypes[0] = "changed"
	got.RedirectURIs[0] = "changed"
	got.AllowedScopes[0] = "changed"
	list, err := s.ListApplications(c)
	must(t, "ListApplications", err)
	if len(list) != 1 {
		t.Fatalf("ListApplications: got %d applications, want 1", len(list))
	}
	list[0].GrantTypes[0] = "changed"
	again, err := s.GetApplication(c, "app1")
	must(t, "GetApplication", err)
	equal(t, "after mutating returned records", again, want)

	upd := newApp("app1")
	upd.CreatedAt = app.CreatedAt
	must(t, "UpdateApplication", s.UpdateApplication(c, upd))
	upd.GrantTypes[0] = "changed"
	again, err = s.GetApplication(c, "app1")
	must(t, "GetApplication", err)
	equal(t, "after mutating the updated record", again, want)
}

func testUserCreateGet(t *testing.T, s store.Store) {
	c := ctx(t)
	u := newUser("u1", "alice")
	u.IsStaff = true
	must(t, "CreateUser", s.CreateUser(c, u))
	got, err := s.GetUser(c, "u1")
	must(t, "GetUser", err)
	equal(t, "GetUser", got, u)
	got, err = s.GetUserByUsername(c, "alice")
	must(t, "GetUserByUsername", err)
	equal(t, "GetUserByUsername", got, u)

	_, err = s.GetUser(c, "missing")
	wantErr(t, "GetUser(missing)", err, store.ErrNotFound)
	_, err = s.GetUserByUsername(c, "missing")
	wantErr(t, "GetUserByUsername(missing)", err, store.ErrNotFound)
	_, err = s.GetUser(c, "alice")
	wantErr(t, "GetUser(username instead of ID)", err, store.ErrNotFound)
}

func testUserDuplicateUsername(t *testing.T, s store.Store) {
	c := ctx(t)
	first := newUser("u1", "alice")
	must(t, "CreateUser", s.CreateUser(c, first))
	wantErr(t, "CreateUser(same username)", s.CreateUser(c, newUser("u2", "alice")), store.ErrDuplicate)
	_, err := s.GetUser(c, "u2")
	wantErr(t, "GetUser of the rejected user", err, store.ErrNotFound)
	got, err := s.GetUserByUsername(c, "alice")
	must(t, "GetUserByUsername", err)
	equal(t, "user after duplicate username", got, first)
}

func testUserDuplicateID(t *testing.T, s store.Store) {
	c := ctx(t)
	first := newUser("u1", "alice")
	must(t, "CreateUser", s.CreateUser(c, first))
	wantErr(t, "CreateUser(same ID)", s.CreateUser(c, newUser("u1", "bob")), store.ErrDuplicate)
	_, err := s.GetUserByUsername(c, "bob")
	wantErr(t, "GetUserByUsername of the rejected user", err, store.ErrNotFound)
	got, err := s.GetUser(c, "u1")
	must(t, "GetUser", err)
	equal(t, "user after duplicate ID", got, first)
	// The rejected username was not left claimed.
	must(t, "CreateUser(bob) after the rejected attempt", s.CreateUser(c, newUser("u2", "bob")))
}

func testUserUsernameExact(t *testing.T, s store.Store) {
	c := ctx(t)
	must(t, "CreateUser(alice)", s.CreateUser(c, newUser("u1", "alice")))
	must(t, "CreateUser(Alice)", s.CreateUser(c, newUser("u2", "Alice")))
	got, err := s.GetUserByUsername(c, "Alice")
	must(t, "GetUserByUsername(Alice)", err)
	if got.ID != "u2" {
		t.Fatalf("GetUserByUsername(Alice) = %q, want u2", got.ID)
	}
	_, err = s.GetUserByUsername(c, "ALICE")
	wantErr(t, "GetUserByUsername(ALICE)", err, store.ErrNotFound)
}

func testUserNoAliasing(t *testing.T, s store.Store) {
	c := ctx(t)
	u := newUser("u1", "alice")
	want := *u
	must(t, "CreateUser", s.CreateUser(c, u))
	u.Email = "changed"
	got, err := s.GetUser(c, "u1")
	must(t, "GetUser", err)
	equal(t, "after mutating the created record", got, &want)
	got.Email = "changed"
	got, err = s.GetUserByUsername(c, "alice")
	must(t, "GetUserByUsername", err)
	equal(t, "after mutating a returned record", got, &want)
	got.Email = "changed"
	got, err = s.GetUser(c, "u1")
	must(t, "GetUser", err)
	equal(t, "after mutating a returned record", got, &want)
}

func testTokenSaveGet(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam1", "1", time.Hour, 24*time.Hour)
	at.Generation, rt.Generation = 7, 7
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	gotAT, err := s.GetAccessToken(c, at.Key)
	must(t, "GetAccessToken", err)
	equal(t, "GetAccessToken", gotAT, at)
	gotRT, err := s.GetRefreshToken(c, rt.Key)
	must(t, "GetRefreshToken", err)
	equal(t, "GetRefreshToken", gotRT, rt)

	// A refresh token that never expires, and an access token without user.
	at2, rt2 := tokens("fam2", "2", time.Hour, 0)
	at2.UserID, at2.Username, at2.Scopes = "", "", nil
	must(t, "SaveTokens(refresh without expiry)", s.SaveTokens(c, at2, rt2))
	gotAT, err = s.GetAccessToken(c, at2.Key)
	must(t, "GetAccessToken", err)
	equal(t, "GetAccessToken", gotAT, at2)
	gotRT, err = s.GetRefreshToken(c, rt2.Key)
	must(t, "GetRefreshToken", err)
	equal(t, "GetRefreshToken", gotRT, rt2)
	if !gotRT.ExpiresAt.IsZero() {
		t.Fatalf("refresh token without expiry came back with ExpiresAt %v", gotRT.ExpiresAt)
	}

	// Access and refresh tokens are kept apart.
	if hasRefresh(t, s, at.Key) {
		t.Fatal("GetRefreshToken found the access token's key")
	}
	if hasAccess(t, s, rt.Key) {
		t.Fatal("GetAccessToken found the refresh token's key")
	}
}

func testTokenSaveWithoutRefresh(t *testing.T, s store.Store) {
	c := ctx(t)
	at, _ := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens(at, nil)", s.SaveTokens(c, at, nil))
	got, err := s.GetAccessToken(c, at.Key)
	must(t, "GetAccessToken", err)
	equal(t, "GetAccessToken", got, at)
}

func testTokenMissing(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	_, err := s.GetAccessToken(c, store.Key{Family: "fam", Signature: "nope"})
	wantErr(t, "GetAccessToken(missing)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(c, store.Key{Family: "fam", Signature: "nope"})
	wantErr(t, "GetRefreshToken(missing)", err, store.ErrNotFound)
	_, err = s.GetAccessToken(c, store.Key{})
	wantErr(t, "GetAccessToken(zero key)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(c, store.Key{})
	wantErr(t, "GetRefreshToken(zero key)", err, store.ErrNotFound)
}

func testTokenRevoke(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))

	must(t, "RevokeAccessToken", s.RevokeAccessToken(c, at.Key))
	if hasAccess(t, s, at.Key) {
		t.Fatal("access token still there after RevokeAccessToken")
	}
	if !hasRefresh(t, s, rt.Key) {
		t.Fatal("RevokeAccessToken removed the refresh token too")
	}
	must(t, "RevokeAccessToken again", s.RevokeAccessToken(c, at.Key))

	must(t, "RevokeRefreshToken", s.RevokeRefreshToken(c, rt.Key))
	if hasRefresh(t, s, rt.Key) {
		t.Fatal("refresh token still there after RevokeRefreshToken")
	}
	must(t, "RevokeRefreshToken again", s.RevokeRefreshToken(c, rt.Key))
	must(t, "RevokeAccessToken(missing)", s.RevokeAccessToken(c, store.Key{Family: "x", Signature: "y"}))
	must(t, "RevokeRefreshToken(missing)", s.RevokeRefreshToken(c, store.Key{Family: "x", Signature: "y"}))
}

func testTokenExpiry(t *testing.T, s store.Store) {
	c := ctx(t)
	// Short-lived access token, refresh token that never expires.
	at1, rt1 := tokens("fam1", "1", expiryWait, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	// Long-lived access token, short-lived refresh token.
	at2, rt2 := tokens("fam2", "2", time.Hour, expiryWait)
	must(t, "SaveTokens", s.SaveTokens(c, at2, rt2))

	if !hasAccess(t, s, at1.Key) || !hasRefresh(t, s, rt2.Key) {
		t.Fatal("short-lived tokens gone before they expired")
	}
	time.Sleep(sleepPast)
	if hasAccess(t, s, at1.Key) {
		t.Fatal("access token still returned after its ExpiresAt")
	}
	if hasRefresh(t, s, rt2.Key) {
		t.Fatal("refresh token still returned after its ExpiresAt")
	}
	if !hasRefresh(t, s, rt1.Key) {
		t.Fatal("refresh token without ExpiresAt expired")
	}
	if !hasAccess(t, s, at2.Key) {
		t.Fatal("long-lived access token expired")
	}
}

func testTokenSavedExpired(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam", "1", -time.Second, -time.Second)
	// A store may refuse the write or accept it; either way an expired
	// record is never returned.
	_ = s.SaveTokens(c, at, rt)
	if hasAccess(t, s, at.Key) {
		t.Fatal("access token saved already expired is returned")
	}
	if hasRefresh(t, s, rt.Key) {
		t.Fatal("refresh token saved already expired is returned")
	}
}

func testTokenNoAliasing(t *testing.T, s store.Store) {
	c := ctx(t)
	at, rt := tokens("fam", "1", time.Hour, 0)
	wantAT, wantRT := *at, *rt
	wantAT.Scopes, wantRT.Scopes = slices.Clone(at.Scopes), slices.Clone(rt.Scopes)
	must(t, "SaveTokens", s.SaveTokens(c, at, rt))
	at.Scopes[0], rt.Scopes[0] = "changed", "changed"
	at.ClientID, rt.ClientID = "changed", "changed"

	gotAT, err := s.GetAccessToken(c, wantAT.Key)
	must(t, "GetAccessToken", err)
	equal(t, "access token after mutating the saved record", gotAT, &wantAT)
	gotRT, err := s.GetRefreshToken(c, wantRT.Key)
	must(t, "GetRefreshToken", err)
	equal(t, "refresh token after mutating the saved record", gotRT, &wantRT)

	gotAT.Scopes[0], gotRT.Scopes[0] = "changed", "changed"
	gotAT.ClientID, gotRT.ClientID = "changed", "changed"
	gotAT, err = s.GetAccessToken(c, wantAT.Key)
	must(t, "GetAccessToken", err)
	equal(t, "access token after mutating a returned record", gotAT, &wantAT)
	gotRT, err = s.GetRefreshToken(c, wantRT.Key)
	must(t, "GetRefreshToken", err)
	equal(t, "refresh token after mutating a returned record", gotRT, &wantRT)
}

func testRotate(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 24*time.Hour)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	// An unrelated grant must not be touched.
	atX, rtX := tokens("other", "x", time.Hour, 0)
	must(t, "SaveTokens(other)", s.SaveTokens(c, atX, rtX))

	old, err := s.GetRefreshToken(c, rt1.Key)
	must(t, "GetRefreshToken", err)
	at2, rt2 := tokens("fam", "2", time.Hour, 24*time.Hour)
	at2.GrantCreatedAt, rt2.GrantCreatedAt = rt1.IssuedAt, rt1.IssuedAt // the grant's, kept
	must(t, "RotateRefreshToken", s.RotateRefreshToken(c, old, nil, at2, rt2))

	if hasAccess(t, s, at1.Key) {
		t.Fatal("old access token still there after rotation")
	}
	if hasRefresh(t, s, rt1.Key) {
		t.Fatal("old refresh token still there after rotation")
	}
	gotAT, err := s.GetAccessToken(c, at2.Key)
	must(t, "GetAccessToken(new)", err)
	equal(t, "new access token", gotAT, at2)
	gotRT, err := s.GetRefreshToken(c, rt2.Key)
	must(t, "GetRefreshToken(new)", err)
	equal(t, "new refresh token", gotRT, rt2)
	if !hasAccess(t, s, atX.Key) || !hasRefresh(t, s, rtX.Key) {
		t.Fatal("rotation removed another grant's tokens")
	}

	// Replaying the old refresh token fails and changes nothing.
	at3, rt3 := tokens("fam", "3", time.Hour, 24*time.Hour)
	wantErr(t, "second RotateRefreshToken of the same token", s.RotateRefreshToken(c, old, nil, at3, rt3), store.ErrNotFound)
	if hasAccess(t, s, at3.Key) || hasRefresh(t, s, rt3.Key) {
		t.Fatal("failed rotation stored the new tokens")
	}
	if !hasAccess(t, s, at2.Key) || !hasRefresh(t, s, rt2.Key) {
		t.Fatal("failed rotation removed the current tokens")
	}

	// The new refresh token rotates in turn.
	must(t, "RotateRefreshToken(new)", s.RotateRefreshToken(c, gotRT, nil, at3, rt3))
	if hasAccess(t, s, at2.Key) || hasRefresh(t, s, rt2.Key) {
		t.Fatal("second generation still there after its rotation")
	}
	if !hasAccess(t, s, at3.Key) || !hasRefresh(t, s, rt3.Key) {
		t.Fatal("third generation missing")
	}
}

func testRotateWithoutRefresh(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	at2, _ := tokens("fam", "2", time.Hour, 0)
	at2.GrantCreatedAt = rt1.IssuedAt
	must(t, "RotateRefreshToken(rt nil)", s.RotateRefreshToken(c, rt1, nil, at2, nil))
	if hasAccess(t, s, at1.Key) || hasRefresh(t, s, rt1.Key) {
		t.Fatal("old tokens still there after rotation")
	}
	got, err := s.GetAccessToken(c, at2.Key)
	must(t, "GetAccessToken(new)", err)
	equal(t, "new access token", got, at2)
	wantErr(t, "RotateRefreshToken again", s.RotateRefreshToken(c, rt1, nil, at2, nil), store.ErrNotFound)
}

func testRotateRevoked(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	must(t, "RevokeRefreshToken", s.RevokeRefreshToken(c, rt1.Key))
	at2, rt2 := tokens("fam", "2", time.Hour, 0)
	wantErr(t, "RotateRefreshToken(revoked)", s.RotateRefreshToken(c, rt1, nil, at2, rt2), store.ErrNotFound)
	if hasAccess(t, s, at2.Key) || hasRefresh(t, s, rt2.Key) {
		t.Fatal("rotation of a revoked token stored the new tokens")
	}
	if !hasAccess(t, s, at1.Key) {
		t.Fatal("failed rotation revoked the old access token")
	}

	// A refresh token that was never stored.
	ghost := &store.RefreshToken{Key: store.Key{Family: "fam", Signature: "ghost"}, ClientID: "client"}
	wantErr(t, "RotateRefreshToken(never stored)", s.RotateRefreshToken(c, ghost, nil, at2, rt2), store.ErrNotFound)
	if !hasAccess(t, s, at1.Key) {
		t.Fatal("failed rotation revoked an access token")
	}
}

func testRotateExpired(t *testing.T, s store.Store) {
	c := ctx(t)
	at1, rt1 := tokens("fam", "1", time.Hour, expiryWait)
	must(t, "SaveTokens", s.SaveTokens(c, at1, rt1))
	time.Sleep(sleepPast)
	at2, rt2 := tokens("fam", "2", time.Hour, 0)
	wantErr(t, "RotateRefreshToken(expired)", s.RotateRefreshToken(c, rt1, nil, at2, rt2), store.ErrNotFound)
	if hasAccess(t, s, at2.Key) || hasRefresh(t, s, rt2.Key) {
		t.Fatal("rotation of an expired token stored the new tokens")
	}
}

func testRotateConcurrent(t *testing.T, s store.Store) {
	const n = 20
	c := ctx(t)
	at0, rt0 := tokens("fam", "0", time.Hour, 0)
	must(t, "SaveTokens", s.SaveTokens(c, at0, rt0))
	old, err := s.GetRefreshToken(c, rt0.Key)
	must(t, "GetRefreshToken", err)

	ats := make([]*store.AccessToken, n)
	rts := make([]*store.RefreshToken, n)
	errs := make([]error, n)
	for i := range n {
		ats[i], rts[i] = tokens("fam", fmt.Sprint("new", i), time.Hour, 0)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.RotateRefreshToken(c, old, nil, ats[i], rts[i])
		})
	}
	close(start)
	wg.Wait()

	winner, notFound := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("rotations %d and %d of one refresh token both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, store.ErrNotFound):
			notFound++
		default:
			t.Fatalf("rotation %d: unexpected error %v", i, err)
		}
	}
	if winner < 0 || notFound != n-1 {
		t.Fatalf("%d concurrent rotations: want 1 success and %d ErrNotFound, got winner=%d and %d ErrNotFound", n, n-1, winner, notFound)
	}
	var accessStored, refreshStored []int
	for i := range n {
		if hasAccess(t, s, ats[i].Key) {
			accessStored = append(accessStored, i)
		}
		if hasRefresh(t, s, rts[i].Key) {
			refreshStored = append(refreshStored, i)
		}
	}
	if !slices.Equal(accessStored, []int{winner}) || !slices.Equal(refreshStored, []int{winner}) {
		t.Fatalf("after concurrent rotations: access tokens stored %v, refresh tokens stored %v, want only the winner %d", accessStored, refreshStored, winner)
	}
	if hasAccess(t, s, at0.Key) || hasRefresh(t, s, rt0.Key) {
		t.Fatal("original tokens still there after concurrent rotations")
	}
}
