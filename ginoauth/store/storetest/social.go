package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// RunSocialLinks runs the contract tests of store.SocialLinks as parallel
// subtests of t, as Run does for store.Store: newStore returns an empty
// store no other subtest uses.
func RunSocialLinks(t *testing.T, newStore func(t *testing.T) store.SocialLinks) {
	t.Helper()
	runAll(t, socialTests, newStore)
}

var socialTests = []contractTest[store.SocialLinks]{
	{"SocialLinks/LinkGet", testSocialLinkGet},
	{"SocialLinks/Missing", testSocialMissing},
	{"SocialLinks/Relink", testSocialRelink},
	{"SocialLinks/Distinct", testSocialDistinct},
	{"SocialLinks/Concurrent", testSocialConcurrent},
	{"SocialLinks/Invalid", testSocialInvalid},
}

func testSocialLinkGet(t *testing.T, s store.SocialLinks) {
	must(t, "LinkSocialUser", s.LinkSocialUser(ctx(t), "github", "12345", "u1"))
	id, err := s.GetSocialUser(ctx(t), "github", "12345")
	must(t, "GetSocialUser", err)
	equal(t, "linked user", id, "u1")
}

func testSocialMissing(t *testing.T, s store.SocialLinks) {
	_, err := s.GetSocialUser(ctx(t), "github", "nobody")
	wantErr(t, "GetSocialUser(unlinked)", err, store.ErrNotFound)
}

func testSocialRelink(t *testing.T, s store.SocialLinks) {
	must(t, "LinkSocialUser", s.LinkSocialUser(ctx(t), "github", "1", "u1"))
	must(t, "LinkSocialUser(same user again)", s.LinkSocialUser(ctx(t), "github", "1", "u1"))
	wantErr(t, "LinkSocialUser(another user)", s.LinkSocialUser(ctx(t), "github", "1", "u2"), store.ErrDuplicate)
	id, err := s.GetSocialUser(ctx(t), "github", "1")
	must(t, "GetSocialUser", err)
	equal(t, "user after a refused relink", id, "u1")
}

// testSocialDistinct: the same upstream ID at two providers, and IDs that
// would collide if provider and ID were joined carelessly, are different
// accounts.
func testSocialDistinct(t *testing.T, s store.SocialLinks) {
	must(t, "link github", s.LinkSocialUser(ctx(t), "github", "7", "u1"))
	must(t, "link gitlab", s.LinkSocialUser(ctx(t), "gitlab", "7", "u2"))
	must(t, "link a/b:c", s.LinkSocialUser(ctx(t), "a", "b:c", "u3"))
	for _, c := range []struct{ provider, id, want string }{
		{"github", "7", "u1"}, {"gitlab", "7", "u2"}, {"a", "b:c", "u3"},
	} {
		got, err := s.GetSocialUser(ctx(t), c.provider, c.id)
		must(t, "GetSocialUser "+c.provider, err)
		equal(t, c.provider+" "+c.id, got, c.want)
	}
	_, err := s.GetSocialUser(ctx(t), "a", "b")
	wantErr(t, "GetSocialUser(a, b)", err, store.ErrNotFound)
}

// testSocialConcurrent: of concurrent links of one account to different
// users, exactly one wins and every later read agrees.
func testSocialConcurrent(t *testing.T, s store.SocialLinks) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.LinkSocialUser(ctx(t), "github", "race", fmt.Sprint("u", i))
		}()
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("both %s and u%d were linked", winner, i)
			}
			winner = fmt.Sprint("u", i)
		default:
			wantErr(t, "losing LinkSocialUser", err, store.ErrDuplicate)
		}
	}
	if winner == "" {
		t.Fatal("no concurrent link won")
	}
	id, err := s.GetSocialUser(ctx(t), "github", "race")
	must(t, "GetSocialUser", err)
	equal(t, "linked user", id, winner)
}

func testSocialInvalid(t *testing.T, s store.SocialLinks) {
	for _, c := range [][3]string{{"", "1", "u"}, {"p", "", "u"}, {"p", "1", ""}, {"a:b", "1", "u"}} {
		if err := s.LinkSocialUser(ctx(t), c[0], c[1], c[2]); err == nil {
			t.Errorf("LinkSocialUser(%q, %q, %q) accepted", c[0], c[1], c[2])
		}
	}
}
