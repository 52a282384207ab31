package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever next= holds, a value safeNext keeps leads to this
// site when a browser resolves it.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"/", "/secret", "/o/authorize/?a=1&b=%2F", "//evil.example", "///evil.example", `/\evil.example`,
		"/\t/evil.example", "https://evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://site.example/accounts/login/")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("safeNext(%q) = %q: it keeps or drops, never rewrites", next, got)
		}
		// Browsers ignore tabs and newlines and read a backslash as a
		// slash in URLs: safeNext refuses both, so Go's parser sees what
		// a browser sees.
		if strings.ContainsAny(next, "\\\t\r\n") {
			t.Fatalf("safeNext kept %q", next)
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("safeNext kept %q, which does not parse: %v", next, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme || r.User != nil {
			t.Fatalf("safeNext kept %q, which leads to %s", next, r)
		}
	})
}

// TestSafeNext: the cases the login and logout forms rely on.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/":                             "/",
		"/o/authorize/?x=1&y=%2F":       "/o/authorize/?x=1&y=%2F",
		"":                              "",
		"secret":                        "",
		"//evil.example":                "",
		"///evil.example":               "",
		`/\evil.example`:                "",
		"/\t/evil.example":              "",
		"/\n/evil.example":              "",
		"https://evil.example/":         "",
		"javascript:alert(1)":           "",
		"/" + strings.Repeat("a", 3000): "",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
