package scope_test

import (
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/scope"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
		bad  bool
	}{
		{"", "", false},
		{"read", "read", false},
		{"read write", "read write", false},
		{"  read   write read ", "read write", false},
		{"a:b !#[]~", "a:b !#[]~", false},
		{"read\twrite", "", true},
		{"read\nwrite", "", true},
		{`re"ad`, "", true},
		{`re\ad`, "", true},
		{"réad", "", true},
	} {
		got, err := scope.Parse(tc.in)
		if (err != nil) != tc.bad || scope.Format(got) != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"read write", " a  b ", "x\ty", "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := scope.Parse(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, sc := range scopes {
			if sc == "" || seen[sc] || strings.ContainsAny(sc, " \"\\") {
				t.Fatalf("Parse(%q) gave %q", s, scopes)
			}
			seen[sc] = true
		}
		again, err := scope.Parse(scope.Format(scopes))
		if err != nil || scope.Format(again) != scope.Format(scopes) {
			t.Fatalf("round trip of %q: %q, %v", s, again, err)
		}
	})
}
