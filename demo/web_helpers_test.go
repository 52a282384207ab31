package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// webServer is a demo server with its demo client set up for the
// server's URL (as serve does once it listens) and a user, alice.
type webServer struct {
	*testServer
	clientID string
	alice    userCreds
}

// newWebServer starts a demo app on a Redis of its own with its demo
// client, mods applied to its options.
func newWebServer(t *testing.T, mods ...func(*options)) *webServer {
	t.Helper()
	a, err := newApp(testOptions(t, mods...))
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewUnstartedServer(a.handler)
	base := "http://" + srv.Listener.Addr().String()
	app, err := a.setupDemoClient(context.Background(), base, nil, "")
	if err != nil {
		srv.Close()
		t.Fatalf("setupDemoClient: %v", err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ts := &testServer{app: a, t: t, url: base}
	return &webServer{testServer: ts, clientID: app.ClientID, alice: ts.newUser("alice")}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that a test sees each step as a browser makes it.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *testServer) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: s.url, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an answer to a browser.
type page struct {
	status   int
	header   http.Header
	body     string
	location string // the Location header, resolved against the request URL
}

// abs resolves a path against the server's URL.
func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.base + u
	}
	return u
}

// do sends a request; form, if not nil, is posted form-encoded.
func (b *browser) do(method, u string, form url.Values, hdr map[string]string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.abs(u), body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if loc := resp.Header.Get("Location"); loc != "" {
		l, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", loc, err)
		}
		p.location = l.String()
	}
	return p
}

func (b *browser) get(u string) page { b.t.Helper(); return b.do(http.MethodGet, u, nil, nil) }

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	return b.do(http.MethodPost, u, form, nil)
}

// api sends a JSON request with extra headers.
func (b *browser) api(method, path, body string, hdr map[string]string) result {
	b.t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		h["Content-Type"] = "application/json"
	}
	req, err := http.NewRequest(method, b.abs(path), rd)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: raw}
}

// cookie returns the value of the browser's cookie name for path on the
// server, or "".
func (b *browser) cookie(name, path string) string {
	u, _ := url.Parse(b.abs(path))
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// wantStatus fails the test unless the page has that status.
func (p page) wantStatus(t *testing.T, status int) page {
	t.Helper()
	if p.status != status {
		t.Fatalf("status = %d, want %d; Location %q; body:\n%s", p.status, status, p.location, p.body)
	}
	return p
}

// wantRedirect fails the test unless the page is a 302 to a URL starting
// with prefix (a path is taken on the server).
func (p page) wantRedirect(t *testing.T, b *browser, prefix string) page {
	t.Helper()
	p.wantStatus(t, http.StatusFound)
	if !strings.HasPrefix(p.location, b.abs(prefix)) {
		t.Fatalf("Location = %q, want %s...", p.location, b.abs(prefix))
	}
	return p
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns the hidden fields of the page's form(s).
func (p page) hidden(t *testing.T) url.Values {
	t.Helper()
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return f
}

// byID returns the text of the element with that id attribute, inner
// tags dropped and entities unescaped, or "" when the page has none.
func (p page) byID(id string) string {
	open := regexp.MustCompile(`<(\w+)[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	loc := open.FindStringSubmatchIndex(p.body)
	if loc == nil {
		return ""
	}
	rest := p.body[loc[1]:]
	end := strings.Index(rest, "</"+p.body[loc[2]:loc[3]]+">")
	if end < 0 {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(rest[:end], "")))
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// login signs the browser in as u through the login page, with next, and
// returns the answer to the POST.
func (b *browser) login(u userCreds, next string) page {
	b.t.Helper()
	path := loginPath
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	form := b.get(path).wantStatus(b.t, http.StatusOK).hidden(b.t)
	if form.Get(csrfFieldName) == "" {
		b.t.Fatal("the login page has no CSRF field")
	}
	form.Set("username", u.username)
	form.Set("password", u.password)
	return b.post(loginPath, form)
}

// csrfFieldName is ginoauth.CSRFField, spelt out: the tests check that
// the pages use Django's name.
const csrfFieldName = "csrfmiddlewaretoken"
