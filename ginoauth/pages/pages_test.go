package pages_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/pages"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

func init() { gin.SetMode(gin.TestMode) }

// alice is the user the test sessions log in.
var alice = &ginoauth.Owner{ID: "42", Username: "alice"}

// newProvider returns a provider on an in-process store whose session
// logs alice in when the request carries the cookie user=alice.
func newProvider(t *testing.T, cfg ginoauth.Config) *ginoauth.Provider {
	t.Helper()
	cfg.Sessions = ginoauth.SessionFunc(func(c *gin.Context) (*ginoauth.Owner, error) {
		if v, err := c.Cookie("user"); err == nil && v == alice.Username {
			return alice, nil
		}
		return nil, nil
	})
	p, err := ginoauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get answers a GET of target on r, as alice when loggedIn.
func get(r http.Handler, target string, loggedIn bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if loggedIn {
		req.AddCookie(&http.Cookie{Name: "user", Value: alice.Username})
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func render(t *testing.T, tpl *template.Template, data any) string {
	t.Helper()
	var b strings.Builder
	if err := tpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDefaultTemplatesReturnsIndependentCopies(t *testing.T) {
	const marker = "restyled-by-the-first-caller"
	first := pages.DefaultTemplates()
	first.List = template.Must(first.List.Parse(`{{define "content"}}` + marker + `{{end}}`))
	first.Error = template.Must(first.Error.Parse(`{{define "style"}}` + marker + `{{end}}`))
	if got := render(t, first.List, pages.ApplicationListData{}); !strings.Contains(got, marker) {
		t.Fatalf("the redefined list page does not show the new content:\n%s", got)
	}

	second := pages.DefaultTemplates()
	if second.List == first.List || second.Error == first.Error {
		t.Fatal("DefaultTemplates returned the same *template.Template twice")
	}
	list := render(t, second.List, pages.ApplicationListData{})
	if strings.Contains(list, marker) || !strings.Contains(list, "You have no applications yet.") {
		t.Errorf("the second call's list page is changed by the first caller's redefinition:\n%s", list)
	}
	errPage := render(t, second.Error, pages.PageErrorData{Status: 404, Title: "Not found"})
	if strings.Contains(errPage, marker) {
		t.Errorf("the second call's error page is changed by the first caller's redefinition:\n%s", errPage)
	}
}

func TestReplacedTemplateIsUsed(t *testing.T) {
	p := newProvider(t, ginoauth.Config{})
	if _, _, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "Billing", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}, UserID: alice.ID,
	}); err != nil {
		t.Fatal(err)
	}
	list := template.Must(template.New("list").Parse(
		`custom list of {{.User.Username}}:{{range .Applications}} {{.DisplayName}}{{end}}`))
	r := gin.New()
	pages.Mount(r, p, pages.Config{Templates: pages.Templates{List: list}})

	w := get(r, "/o/applications/", true)
	if w.Code != http.StatusOK || w.Body.String() != "custom list of alice: Billing" {
		t.Errorf("applications page = %d %q, want 200 from the replacement template", w.Code, w.Body.String())
	}
	// The pages not replaced keep the built-in templates.
	w = get(r, "/o/authorized_tokens/", true)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="nav-authorized-tokens"`) {
		t.Errorf("authorized tokens page = %d, want 200 from the built-in template:\n%s", w.Code, w.Body.String())
	}
}

func TestMountOnGroupPutsLinksUnderItsBasePath(t *testing.T) {
	p := newProvider(t, ginoauth.Config{})
	app, _, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "Billing", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}, UserID: alice.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	pages.Mount(r.Group("/account"), p, pages.Config{})

	w := get(r, "/account/o/applications/", true)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /account/o/applications/ = %d, want 200", w.Code)
	}
	body := w.Body.String()
	for _, link := range []string{
		`href="/account/o/applications/"`,
		`href="/account/o/applications/register/"`,
		`href="/account/o/authorized_tokens/"`,
		`href="/account/o/applications/` + app.ClientID + `/"`,
	} {
		if !strings.Contains(body, link) {
			t.Errorf("the applications page has no %s:\n%s", link, body)
		}
	}
	if w := get(r, "/o/applications/", true); w.Code != http.StatusNotFound {
		t.Errorf("GET /o/applications/ outside the group = %d, want 404", w.Code)
	}
	// The next= of the login redirect is the full path, base path included.
	w = get(r, "/account/o/applications/register/", false)
	if want := "/accounts/login/?next=%2Faccount%2Fo%2Fapplications%2Fregister%2F"; w.Code != http.StatusFound || w.Header().Get("Location") != want {
		t.Errorf("anonymous GET = %d Location %q, want 302 %q", w.Code, w.Header().Get("Location"), want)
	}
}

func TestVisitorWithoutSessionIsSentToLogin(t *testing.T) {
	for _, tc := range []struct {
		name, loginURL, target, want string
	}{
		{"default login URL", "", "/o/applications/",
			"/accounts/login/?next=%2Fo%2Fapplications%2F"},
		{"the request's query is kept in next", "", "/o/authorized_tokens/?x=1",
			"/accounts/login/?next=%2Fo%2Fauthorized_tokens%2F%3Fx%3D1"},
		{"the login URL's query is kept", "/login/?lang=fr", "/o/applications/register/",
			"/login/?lang=fr&next=%2Fo%2Fapplications%2Fregister%2F"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, ginoauth.Config{LoginURL: tc.loginURL})
			r := gin.New()
			pages.Mount(r, p, pages.Config{})
			w := get(r, tc.target, false)
			if w.Code != http.StatusFound || w.Header().Get("Location") != tc.want {
				t.Errorf("GET %s = %d Location %q, want 302 %q", tc.target, w.Code, w.Header().Get("Location"), tc.want)
			}
		})
	}
}
