package exchange

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzUserURL: whatever the username, the URL built for a {username}
// backend is refused, or keeps the template's scheme, host, query and
// number of path segments, with the username as the one segment in place
// of the placeholder.
func FuzzUserURL(f *testing.F) {
	for _, s := range []string{"alice", "a/b", "..", ".", "a?b", "a#b", "%2F", "a b", "é", "@+.-_", "", strings.Repeat("x", 200)} {
		f.Add(s)
	}
	b, err := newBackend(Backend{Name: "p", UserDetailsURL: "https://up.example/users/{username}/details?fmt=json", AnyClient: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, username string) {
		raw, err := b.userURL(username)
		if err != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("userURL(%q) = %q, not a URL: %v", username, raw, err)
		}
		if u.Scheme != "https" || u.Host != "up.example" || u.RawQuery != "fmt=json" || u.Fragment != "" || u.User != nil {
			t.Fatalf("userURL(%q) = %q changes more than the path", username, raw)
		}
		segs := strings.Split(u.EscapedPath(), "/")
		if len(segs) != 4 || segs[1] != "users" || segs[3] != "details" {
			t.Fatalf("userURL(%q) = %q: path segments %q", username, raw, segs)
		}
		got, err := url.PathUnescape(segs[2])
		if err != nil || got != username || got == "." || got == ".." {
			t.Fatalf("userURL(%q) = %q: segment %q unescapes to %q, %v", username, raw, segs[2], got, err)
		}
	})
}
