package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// index is GET /: where everything is, as DRF's api_root.
func (a *app) index(c *gin.Context) {
	endpoints := gin.H{
		"snippets":     snippetsPath,
		"user_details": userDetailsPath,
		"secret":       secretPath,
		"login":        loginPath,
		"logout":       logoutPath,
		"csrf":         csrfPath,
		"demo_client":  clientPath,
	}
	for _, e := range slices.Concat(providerEndpoints, tokenAliases) {
		endpoints[e.name] = e.path
	}
	c.JSON(http.StatusOK, gin.H{
		"name":      "ginoauth demo: OAuth2 provider and the snippets API of DRF's tutorial",
		"endpoints": endpoints,
		"scopes":    a.provider.Scopes(),
		"languages": snippets.Languages,
		"styles":    snippets.Styles,
	})
}

// secret is GET /secret, the page DOT's tutorial protects.
func (a *app) secret(c *gin.Context) {
	name := "there"
	if _, u := requestUser(c); u != "" {
		name = u
	}
	c.JSON(http.StatusOK, gin.H{"message": fmt.Sprintf("Secret contents! Hello, %s.", name)})
}

// userProfile is what GET /user_details/ shows of a user.
type userProfile struct {
	ID         string    `json:"id"`
	Username   string    `json:"username"`
	Email      string    `json:"email"`
	FirstName  string    `json:"first_name"`
	LastName   string    `json:"last_name"`
	DateJoined time.Time `json:"date_joined"`
	// ClientID is the client the request's token was issued to (none for
	// a session): what an API converting this site's tokens checks
	// (exchange.Backend.ClientIDField), as Google's tokeninfo says azp.
	ClientID string `json:"client_id,omitempty"`
}

// userDetails is GET /user_details/: the profile of the token's (or the
// session's) user, loaded from the store.
func (a *app) userDetails(c *gin.Context) {
	id, _ := requestUser(c)
	u, err := a.provider.Store().GetUser(c.Request.Context(), id)
	a.writeProfile(c, u, err, "The token's user no longer exists.")
}

// userDetailsByUsername is GET /user_details_by_username/:username/, the
// lookup of the Machinalis tutorial and of the social site: the profile of
// the request's user if :username names it, else 404, as for an unknown
// username (the seed's "404 for anyone else"). The API trusts the social
// site's answer (backend fake_social_site_with_params): answering for
// another user would hand that user's account to any token.
func (a *app) userDetailsByUsername(c *gin.Context) {
	id, _ := requestUser(c)
	u, err := a.provider.Store().GetUserByUsername(c.Request.Context(), c.Param("username"))
	if err == nil && (id == "" || u.ID != id) {
		err = store.ErrNotFound
	}
	a.writeProfile(c, u, err, "No such user.")
}

// writeProfile answers a user lookup: the profile, 404 with notFound, or
// the store's error.
func (a *app) writeProfile(c *gin.Context, u *store.User, err error, notFound string) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(c, http.StatusNotFound, "not_found", notFound, nil)
		return
	}
	if err != nil {
		a.storeError(c, err)
		return
	}
	profile := userProfile{
		ID: u.ID, Username: u.Username, Email: u.Email,
		FirstName: u.FirstName, LastName: u.LastName, DateJoined: u.DateJoined,
	}
	if t, ok := resource.TokenFromContext(c); ok {
		profile.ClientID = t.ClientID
	}
	c.JSON(http.StatusOK, profile)
}

// createSnippet is POST /snippets/: a new snippet owned by the token's
// (or the session's) user (the guards made sure there is one).
func (a *app) createSnippet(c *gin.Context) {
	if !a.allowWrite(c) {
		return
	}
	in, ok := a.readInput(c, true)
	if !ok {
		return
	}
	id, name := requestUser(c)
	s := in.New()
	s.Owner, s.OwnerID = name, id
	s.Created = a.now().UTC().Truncate(time.Microsecond)
	if err := a.snippets.Create(c.Request.Context(), s); err != nil {
		a.storeError(c, err)
		return
	}
	c.Header("Location", snippetsPath+strconv.FormatInt(s.ID, 10)+"/")
	c.JSON(http.StatusCreated, s.View())
}

// getSnippet is GET /snippets/:id/.
func (a *app) getSnippet(c *gin.Context) {
	s, ok := a.loadSnippet(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, s.View())
}

// updateSnippet is PUT and PATCH /snippets/:id/, by the owner only. As in
// DRF, PUT needs the required field (code) and PATCH does not; with both,
// fields left out keep their values.
func (a *app) updateSnippet(c *gin.Context) {
	if !a.allowWrite(c) {
		return
	}
	s, ok := a.loadOwnSnippet(c)
	if !ok {
		return
	}
	in, ok := a.readInput(c, c.Request.Method == http.MethodPut)
	if !ok {
		return
	}
	in.Apply(s)
	err := a.snippets.Update(c.Request.Context(), s)
	if errors.Is(err, store.ErrNotFound) {
		snippetNotFound(c)
		return
	}
	if err != nil {
		a.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, s.View())
}

// deleteSnippet is DELETE /snippets/:id/, by the owner only.
func (a *app) deleteSnippet(c *gin.Context) {
	if !a.allowWrite(c) {
		return
	}
	s, ok := a.loadOwnSnippet(c)
	if !ok {
		return
	}
	err := a.snippets.Delete(c.Request.Context(), s.ID)
	if errors.Is(err, store.ErrNotFound) {
		snippetNotFound(c)
		return
	}
	if err != nil {
		a.storeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// loadSnippet reads the :id of the path and loads that snippet, or
// answers 400 (bad id), 404 or 503.
func (a *app) loadSnippet(c *gin.Context) (*snippets.Snippet, bool) {
	raw := c.Param("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strings.TrimLeft(raw, "0123456789") != "" {
		writeError(c, http.StatusBadRequest, oautherr.ErrInvalidRequest.Code,
			fmt.Sprintf("The snippet id must be a positive integer, not %q.", raw), nil)
		return nil, false
	}
	s, err := a.snippets.Get(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		snippetNotFound(c)
		return nil, false
	}
	if err != nil {
		a.storeError(c, err)
		return nil, false
	}
	return s, true
}

// loadOwnSnippet is loadSnippet for a change: only the snippet's owner may
// make it (DRF tutorial's IsOwnerOrReadOnly); others get 403.
func (a *app) loadOwnSnippet(c *gin.Context) (*snippets.Snippet, bool) {
	s, ok := a.loadSnippet(c)
	if !ok {
		return nil, false
	}
	if id, _ := requestUser(c); id == "" || id != s.OwnerID {
		resource.AbortWithError(c, oautherr.ErrPermissionDenied.WithDescription(
			"Only the owner of a snippet may change or delete it."))
		return nil, false
	}
	return s, true
}

func snippetNotFound(c *gin.Context) {
	writeError(c, http.StatusNotFound, "not_found", "No snippet with that id.", nil)
}

// readInput reads and validates a snippet from the request body, or
// answers 415 (not JSON), 413 (over a.maxBody) or 400 (a code over
// a.maxCode among them).
func (a *app) readInput(c *gin.Context, requireCode bool) (*snippets.Input, bool) {
	ct, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (ct != "application/json" && !strings.HasSuffix(ct, "+json")) {
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Send the snippet as JSON, with Content-Type: application/json.", nil)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, a.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(c, http.StatusRequestEntityTooLarge, oautherr.ErrInvalidRequest.Code,
				fmt.Sprintf("The request body is larger than %d bytes.", a.maxBody), nil)
			return nil, false
		}
		writeError(c, http.StatusBadRequest, oautherr.ErrInvalidRequest.Code, "The request body could not be read.", nil)
		return nil, false
	}
	in, err := snippets.DecodeInput(body, requireCode, a.maxCode)
	if err != nil {
		var ie *snippets.InputError
		if !errors.As(err, &ie) {
			ie = &snippets.InputError{Description: "The snippet is not valid."}
		}
		writeError(c, http.StatusBadRequest, oautherr.ErrInvalidRequest.Code, ie.Description, ie.Fields)
		return nil, false
	}
	return in, true
}
