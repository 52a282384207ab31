package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// listPage is a page of GET /snippets/ as the test reads it.
type listPage struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []struct {
		ID int `json:"id"`
	} `json:"results"`
}

func (p listPage) ids() []int {
	ids := make([]int, len(p.Results))
	for i, r := range p.Results {
		ids[i] = r.ID
	}
	return ids
}

func (p listPage) String() string {
	str := func(s *string) string {
		if s == nil {
			return "null"
		}
		return *s
	}
	return fmt.Sprintf("count %d, next %s, previous %s, ids %v", p.Count, str(p.Next), str(p.Previous), p.ids())
}

// TestSnippetsPagination: GET /snippets/ is paginated as DRF's
// PageNumberPagination with the tutorial's page size of 10: count, next
// and previous as absolute URLs (previous of page 2 without page), the
// page's results; a page that does not exist is 404 "Invalid page.".
func TestSnippetsPagination(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"", "https://api.example.com"} {
		t.Run("issuer "+issuer, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(o *options) { o.Issuer = issuer; o.SnippetWriteRate = rate{N: -1} })
			testPagination(t, f, issuer)
		})
	}
}

func testPagination(t *testing.T, f *fixture, issuer string) {
	tk := f.passwordToken(f.conf, f.alice, "").access
	base := f.url + snippetsPath
	if issuer != "" {
		base = issuer + snippetsPath
	}
	get := func(query string) listPage {
		t.Helper()
		var p listPage
		if err := json.Unmarshal(f.api("GET", snippetsPath+query, tk, "").wantStatus(t, http.StatusOK).body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, want := get("").String(), "count 0, next null, previous null, ids []"; got != want {
		t.Errorf("empty list: %s, want %s", got, want)
	}
	f.api("GET", snippetsPath+"?page=2", tk, "").wantError(t, http.StatusNotFound, "not_found")
	for i := range 23 {
		f.api("POST", snippetsPath, tk, fmt.Sprintf(`{"code":"print(%d)"}`, i+1)).wantStatus(t, http.StatusCreated)
	}
	span := func(from, to int) string {
		var ids []string
		for i := from; i <= to; i++ {
			ids = append(ids, strconv.Itoa(i))
		}
		return "[" + strings.Join(ids, " ") + "]"
	}
	tests := []struct{ query, want string }{
		{"", "count 23, next " + base + "?page=2, previous null, ids " + span(1, 10)},
		{"?page=1", "count 23, next " + base + "?page=2, previous null, ids " + span(1, 10)},
		{"?page=", "count 23, next " + base + "?page=2, previous null, ids " + span(1, 10)},
		{"?page=2", "count 23, next " + base + "?page=3, previous " + base + ", ids " + span(11, 20)},
		{"?page=3", "count 23, next null, previous " + base + "?page=2, ids " + span(21, 23)},
		{"?page=last", "count 23, next null, previous " + base + "?page=2, ids " + span(21, 23)},
		{"?page=1&page=2", "count 23, next " + base + "?page=3, previous " + base + ", ids " + span(11, 20)},
		{"?page=2&format=json", "count 23, next " + base + "?format=json&page=3, previous " + base + "?format=json, ids " + span(11, 20)},
	}
	for _, tt := range tests {
		if got := get(tt.query).String(); got != tt.want {
			t.Errorf("GET %s%s:\n got %s\nwant %s", snippetsPath, tt.query, got, tt.want)
		}
	}
	for _, q := range []string{"4", "0", "-1", "abc", "1.5", "99999999999999999999", "9223372036854775807"} {
		r := f.api("GET", snippetsPath+"?page="+q, tk, "").wantError(t, http.StatusNotFound, "not_found")
		if got := r.str(t, "error_description"); got != "Invalid page." {
			t.Errorf("page=%s: error_description %q, want %q", q, got, "Invalid page.")
		}
	}
}

// TestSnippetCodeLimit: a snippet's code is at most 64 KiB unless
// options.SnippetCodeLimit says otherwise; more is 400 with a field
// message naming the limit, on create and on change.
func TestSnippetCodeLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		limit       int // options.SnippetCodeLimit
		size        int // bytes of code
		wantStatus  int
		wantMessage string // the code field's message of a 400
	}{
		{"default: 64 KiB", 0, 64 << 10, http.StatusCreated, ""},
		{"default: over 64 KiB", 0, 64<<10 + 1, http.StatusBadRequest, "Ensure this field has no more than 65536 bytes."},
		{"default: 1 MB", 0, 1_000_000, http.StatusBadRequest, "Ensure this field has no more than 65536 bytes."},
		{"limit 100", 100, 100, http.StatusCreated, ""},
		{"limit 100: 101", 100, 101, http.StatusBadRequest, "Ensure this field has no more than 100 bytes."},
		{"limit 1 MiB: 1 MiB", 1 << 20, 1 << 20, http.StatusCreated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(o *options) { o.SnippetCodeLimit = tt.limit })
			tk := f.passwordToken(f.conf, f.alice, "").access
			f.api("POST", snippetsPath, tk, `{"code":"x"}`).wantStatus(t, http.StatusCreated)
			body := `{"code":"` + strings.Repeat("x", tt.size) + `"}`
			for _, req := range []struct{ method, path string }{{"POST", snippetsPath}, {"PUT", "/snippets/1/"}, {"PATCH", "/snippets/1/"}} {
				r := f.api(req.method, req.path, tk, body)
				if r.status/100 == 2 && tt.wantStatus/100 == 2 {
					continue
				}
				r.wantError(t, tt.wantStatus, "invalid_request")
				fields, _ := r.obj(t)["fields"].(map[string]any)
				if got := fields["code"]; got != tt.wantMessage {
					t.Errorf("%s %s: code message %q, want %q", req.method, req.path, got, tt.wantMessage)
				}
			}
		})
	}
}

// TestSnippetWriteThrottle: each user may make options.SnippetWriteRate
// snippet writes (POST, PUT, PATCH, DELETE, valid or not), counted in the
// store across instances; the next is 429 with Retry-After and DRF's
// message, while reads and other users go on.
func TestSnippetWriteThrottle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rate  rate
		limit int // writes allowed; 0: no limit
	}{
		{"3 an hour", rate{N: 3, Per: time.Hour}, 3},
		{"default: 100 an hour", rate{}, 100},
		{"no limit", rate{N: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testWriteThrottle(t, tt.rate, tt.limit)
		})
	}
}

// testWriteThrottle checks one rate (a sliding window: no boundary lets
// a write past the limit through).
func testWriteThrottle(t *testing.T, r rate, limit int) {
	t.Helper()
	o := testOptions(t, func(o *options) { o.SnippetWriteRate = r })
	f := &fixture{testServer: startApp(t, o)}
	f.conf = f.newClient("", store.Confidential, store.GrantPassword)
	f.alice = f.newUser("alice")
	other := startApp(t, o) // a second instance on the same store
	alice := f.passwordToken(f.conf, f.alice, "").access
	bob := f.passwordToken(f.conf, f.newUser("bob"), "").access
	n := limit
	if n == 0 {
		n = 120
	}
	f.api("POST", snippetsPath, alice, `{"code":"x"}`).wantStatus(t, http.StatusCreated)
	for i := 1; i < n; i++ {
		req := []struct{ method, path, body string }{
			{"PATCH", "/snippets/1/", `{"title":"t"}`}, {"POST", snippetsPath, `{"code":""}`}, {"PUT", "/snippets/1/", `{"code":"y"}`},
		}[i%3]
		if got := other.api(req.method, req.path, alice, req.body); got.status == http.StatusTooManyRequests {
			t.Fatalf("write %d of %d (%s): 429, want it allowed; body %s", i+1, n, req.method, got.body)
		}
	}
	res := f.api("DELETE", "/snippets/1/", alice, "")
	if limit == 0 {
		res.wantStatus(t, http.StatusNoContent)
		return
	}
	res.wantError(t, http.StatusTooManyRequests, "throttled")
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After = %q, want 1 to 3600 seconds", res.header.Get("Retry-After"))
	}
	throttled := regexp.MustCompile(`^Request was throttled\. Expected available in ([0-9]+) seconds?\.$`)
	m := throttled.FindStringSubmatch(res.str(t, "error_description"))
	if m == nil || m[1] != strconv.Itoa(retry) {
		t.Errorf("error_description = %q, want DRF's message with Retry-After's %d seconds", res.str(t, "error_description"), retry)
	}
	other.api("POST", snippetsPath, alice, `{"code":"x"}`).wantError(t, http.StatusTooManyRequests, "throttled")
	f.api("GET", "/snippets/1/", alice, "").wantStatus(t, http.StatusOK)
	f.api("POST", snippetsPath, bob, `{"code":"x"}`).wantStatus(t, http.StatusCreated)
}

// TestParseRate: --snippet-write-rate reads rates as DRF's throttles do.
func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    rate
		wantErr bool
	}{
		{"100/hour", rate{100, time.Hour}, false},
		{"5/m", rate{5, time.Minute}, false},
		{"1/second", rate{1, time.Second}, false},
		{"1000/day", rate{1000, 24 * time.Hour}, false},
		{"0", rate{N: -1}, false},
		{"0/hour", rate{}, true},
		{"100", rate{}, true},
		{"100/", rate{}, true},
		{"x/hour", rate{}, true},
		{"10/year", rate{}, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("parseRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
