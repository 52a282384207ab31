package resource_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
		err          error
	}{
		{"Bearer abc", "abc", nil},
		{"bearer abc", "abc", nil},
		{"BEARER  abc==", "abc==", nil},
		{"Bearer a-b.c_d~e+f/g", "a-b.c_d~e+f/g", nil},
		{"", "", nil},
		{"Basic Zm9vOmJhcg==", "", nil},
		{"Bearerabc", "", nil},
		{"Bearer", "", oautherr.ErrInvalidRequest},
		{"Bearer ", "", oautherr.ErrInvalidRequest},
		{"Bearer a b", "", oautherr.ErrInvalidRequest},
		{"Bearer =abc", "", oautherr.ErrInvalidRequest},
		{"Bearer ab=c", "", oautherr.ErrInvalidRequest},
		{"Bearer abc\t", "", oautherr.ErrInvalidRequest},
	} {
		got, err := resource.ParseBearer(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x==", "Basic a", "Bearer", "Bearer a b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := resource.ParseBearer(h)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			return
		}
		if tok == "" {
			return // no bearer token: another scheme, or none
		}
		if strings.ContainsAny(tok, " \t\r\n\"\\,") || !strings.HasSuffix(h, tok) {
			t.Fatalf("ParseBearer(%q) accepted %q", h, tok)
		}
	})
}

// TestTokenFinders: each finder finds the token its way only, and the
// middleware's combination refuses a token sent two ways.
func TestTokenFinders(t *testing.T) {
	t.Parallel()
	all := []resource.TokenFinder{resource.TokenFromHeader, resource.TokenFromForm, resource.TokenFromQuery}
	for _, tc := range []struct {
		name, method, target, header, body string
		finder                             resource.TokenFinder
		want                               string
		wantErr                            bool
	}{
		{name: "header", method: "GET", target: "/", header: "Bearer abc", finder: resource.TokenFromHeader, want: "abc"},
		{name: "header, another scheme", method: "GET", target: "/", header: "Basic Zm9v", finder: resource.TokenFromHeader},
		{name: "header, malformed", method: "GET", target: "/", header: "Bearer a b", finder: resource.TokenFromHeader, wantErr: true},
		{name: "header ignores the query", method: "GET", target: "/?access_token=abc", finder: resource.TokenFromHeader},
		{name: "query", method: "GET", target: "/?access_token=abc", finder: resource.TokenFromQuery, want: "abc"},
		{name: "query, twice", method: "GET", target: "/?access_token=a&access_token=b", finder: resource.TokenFromQuery, wantErr: true},
		{name: "query, malformed", method: "GET", target: "/?access_token=a%20b", finder: resource.TokenFromQuery, wantErr: true},
		{name: "form", method: "POST", target: "/", body: "access_token=abc", finder: resource.TokenFromForm, want: "abc"},
		{name: "form on GET", method: "GET", target: "/", body: "access_token=abc", finder: resource.TokenFromForm},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tc.body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		got, err := tc.finder(r)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, oautherr.ErrInvalidRequest) {
			t.Errorf("%s: got error %v; want invalid_request", tc.name, err)
		}
	}
	if got := resource.BearerMethods(all); !slices.Equal(got, []string{"header", "body", "query"}) {
		t.Errorf("BearerMethods(all) = %q; want header, body, query", got)
	}
	if got := resource.BearerMethods(nil); !slices.Equal(got, []string{"header"}) {
		t.Errorf("BearerMethods(nil) = %q; want header", got)
	}
}

// countingReader counts what is read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestTokenFromFormBound: TokenFromForm reads at most 64 KiB of a body
// (issue 8, finding 3): a token followed by more than that is not found,
// and the rest of the body is never read.
func TestTokenFromFormBound(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	for _, tc := range []struct {
		name string
		pad  int
		want string
	}{
		{"within the bound", limit - 100, "abc"},
		{"past the bound", 4 << 20, ""},
	} {
		body := &countingReader{r: io.MultiReader(strings.NewReader("access_token=abc&pad="), strings.NewReader(strings.Repeat("a", tc.pad)))}
		r := httptest.NewRequest("POST", "/", body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		got, err := resource.TokenFromForm(r)
		if got != tc.want || err != nil {
			t.Errorf("%s: got %q, %v; want %q, no error", tc.name, got, err, tc.want)
		}
		if body.n > limit+4096 {
			t.Errorf("%s: read %d bytes of the body; want at most %d", tc.name, body.n, limit+4096)
		}
	}
}
