package pages_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/pages"
)

// The pages show the logged-in user's applications and grants. Who is
// logged in is the application's business: here a cookie names the user,
// where a real application checks its signed session.
func ExampleMount() {
	gin.SetMode(gin.TestMode)
	p, err := ginoauth.New(ginoauth.Config{
		Sessions: ginoauth.SessionFunc(func(c *gin.Context) (*ginoauth.Owner, error) {
			if name, err := c.Cookie("user"); err == nil && name == "alice" {
				return &ginoauth.Owner{ID: "42", Username: "alice"}, nil
			}
			return nil, nil // nobody is logged in
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := gin.New()
	p.Mount(r)                        // the OAuth 2.0 endpoints under /o
	pages.Mount(r, p, pages.Config{}) // the management pages beside them

	req := httptest.NewRequest(http.MethodGet, "/o/applications/", nil)
	req.AddCookie(&http.Cookie{Name: "user", Value: "alice"})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))

	// A visitor who is not logged in is sent to Config.LoginURL.
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/o/applications/", nil))
	fmt.Println(w.Code, w.Header().Get("Location"))
	// Output:
	// 200 text/html; charset=utf-8
	// 302 /accounts/login/?next=%2Fo%2Fapplications%2F
}
