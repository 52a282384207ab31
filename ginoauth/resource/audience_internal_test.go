package resource

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseAudience(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want []string
		ok   bool
	}{
		{``, nil, true},
		{`null`, nil, true},
		{`"https://a/"`, []string{"https://a/"}, true},
		{`["https://a/","urn:b"]`, []string{"https://a/", "urn:b"}, true},
		{`[]`, []string{}, true},
		{`""`, nil, false},
		{`[""]`, nil, false},
		{`7`, nil, false},
		{`{"a":1}`, nil, false},
		{`["a",null]`, nil, false},
		{`"unterminated`, nil, false},
	} {
		got, err := parseAudience(json.RawMessage(tc.raw))
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("parseAudience(%s) = %q, %v; want %q, ok %v", tc.raw, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseAudience: never panics; what it accepts holds no empty value
// and encodes back to an equal audience.
func FuzzParseAudience(f *testing.F) {
	for _, s := range []string{``, `null`, `"https://a/"`, `["a","b"]`, `[""]`, `7`, `[1]`, `"\u0000"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseAudience(json.RawMessage(raw))
		if err != nil {
			return
		}
		if slices.Contains(got, "") {
			t.Fatalf("parseAudience(%q) = %q holds an empty value", raw, got)
		}
		b, _ := json.Marshal(got)
		again, err := parseAudience(b)
		if err != nil || !slices.Equal(again, got) || (len(got) == 0) != (len(again) == 0) {
			t.Fatalf("parseAudience(%q) = %q; re-encoded %s gives %q, %v", raw, got, b, again, err)
		}
	})
}
