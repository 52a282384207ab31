package ginoauth

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// parseFormReference is parseForm as url.ParseQuery gives it: what
// parseForm must agree with.
func parseFormReference(body, repeatable string) (map[string]string, []string, bool) {
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, nil, false
	}
	var repeated []string
	if repeatable != "" {
		repeated = vals[repeatable]
		delete(vals, repeatable)
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) != 1 {
			return nil, nil, false
		}
		out[k] = v[0]
	}
	return out, repeated, true
}

func TestParseForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body     string
		want     map[string]string
		resource []string
		err      string // a part of the description; "" for none
	}{
		{"grant_type=client_credentials&scope=read+write", map[string]string{"grant_type": "client_credentials", "scope": "read write"}, nil, ""},
		{"a=%41&&b=&c", map[string]string{"a": "A", "b": "", "c": ""}, nil, ""},
		{"resource=x&a=1&resource=y", map[string]string{"a": "1"}, []string{"x", "y"}, ""},
		{"a=1&a=2", nil, nil, "Parameter 'a' is repeated"},
		{"a=1;b=2", nil, nil, "not valid form encoding"},
		{"a=%zz", nil, nil, "not valid form encoding"},
		{"a=1&a=2&b=%zz", nil, nil, "not valid form encoding"}, // encoding before repeats, as ParseQuery
		{"", map[string]string{}, nil, ""},
	} {
		got, res, err := parseForm(tc.body, "resource")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseForm(%q): error %v, want one saying %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) || !slices.Equal(res, tc.resource) {
			t.Errorf("parseForm(%q) = %v, %q, %v; want %v, %q", tc.body, got, res, err, tc.want, tc.resource)
		}
	}
}

// FuzzParseForm: parseForm agrees with url.ParseQuery on every body.
func FuzzParseForm(f *testing.F) {
	f.Add("grant_type=client_credentials&scope=read+write")
	f.Add("resource=a&resource=b&x=%41")
	f.Add("a=1;b=2&a")
	f.Add("=&&=x&%2")
	f.Fuzz(func(t *testing.T, body string) {
		got, res, err := parseForm(body, "resource")
		want, wantRes, ok := parseFormReference(body, "resource")
		if (err == nil) != ok {
			t.Fatalf("parseForm(%q): error %v, url.ParseQuery ok %v", body, err, ok)
		}
		if ok && (!maps.Equal(got, want) || !slices.Equal(res, wantRes)) {
			t.Fatalf("parseForm(%q) = %v, %q; url.ParseQuery gives %v, %q", body, got, res, want, wantRes)
		}
	})
}

// TestReadBody: the whole body, whatever the hint says and however the
// reader splits it.
func TestReadBody(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("grant_type=x&", 100)
	for _, hint := range []int64{-1, 0, 5, int64(len(body)), int64(len(body)) + 7, maxRequestBody + 1} {
		got, err := readBody(iotest.OneByteReader(strings.NewReader(body)), hint)
		if err != nil || string(got) != body {
			t.Errorf("readBody(hint %d) = %d bytes, %v; want the %d bytes", hint, len(got), err, len(body))
		}
	}
	if _, err := readBody(iotest.ErrReader(iotest.ErrTimeout), 10); err != iotest.ErrTimeout {
		t.Errorf("readBody of a failing reader: error %v, want %v", err, iotest.ErrTimeout)
	}
}
