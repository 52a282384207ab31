package main

import (
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/demo/snippets"
)

// pageSize is how many snippets a page of GET /snippets/ holds: DRF
// tutorial part 5's PAGE_SIZE.
const pageSize = 10

// maxPage is the highest page number whose offset fits in an int.
const maxPage = math.MaxInt/pageSize - 1

// snippetPage is a page of GET /snippets/, as DRF's PageNumberPagination
// shows it: the number of snippets in all, the absolute URLs of the next
// and previous pages (null on the last and first), and the page's
// snippets.
type snippetPage struct {
	Count    int             `json:"count"`
	Next     *string         `json:"next"`
	Previous *string         `json:"previous"`
	Results  []snippets.View `json:"results"`
}

// listSnippets is GET /snippets/: one page of the snippets, oldest first,
// ?page=N (1 without it, or "last"); a page that does not exist is 404
// "Invalid page.", as in DRF. Only that page is read from the store.
func (a *app) listSnippets(c *gin.Context) {
	ctx := c.Request.Context()
	n, last, ok := pageNumber(c.QueryArray("page"))
	if !ok {
		invalidPage(c)
		return
	}
	if last {
		_, count, err := a.snippets.List(ctx, 0, 0)
		if err != nil {
			a.storeError(c, err)
			return
		}
		n = numPages(count)
	}
	list, count, err := a.snippets.List(ctx, (n-1)*pageSize, pageSize)
	if err != nil {
		a.storeError(c, err)
		return
	}
	pages := numPages(count)
	if n > pages {
		invalidPage(c)
		return
	}
	out := snippetPage{Count: count, Results: make([]snippets.View, len(list))}
	for i, s := range list {
		out.Results[i] = s.View()
	}
	if n < pages {
		out.Next = a.pageLink(c, n+1)
	}
	if n > 1 {
		out.Previous = a.pageLink(c, n-1)
	}
	c.JSON(http.StatusOK, out)
}

// pageNumber reads the page query parameter as DRF does (its last value;
// empty or absent is 1; "last" the last page): the number, or last, or
// not ok for anything but a positive integer.
func pageNumber(values []string) (n int, last, ok bool) {
	if len(values) == 0 || values[len(values)-1] == "" {
		return 1, false, true
	}
	v := values[len(values)-1]
	if v == "last" {
		return 0, true, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, false, false
	}
	return n, false, true
}

// numPages is how many pages count snippets fill: at least one, which may
// be empty (Django's allow_empty_first_page).
func numPages(count int) int {
	return max(1, (count+pageSize-1)/pageSize)
}

func invalidPage(c *gin.Context) {
	writeError(c, http.StatusNotFound, "not_found", "Invalid page.", nil)
}

// pageLink is the absolute URL of page n of the request's list, as DRF
// builds it: the request's URL with page=n in its query, or without page
// for the first page; the other query parameters are kept, sorted. Its
// scheme and host are the issuer's when --issuer is set, else the
// request's.
func (a *app) pageLink(c *gin.Context, n int) *string {
	u := url.URL{Scheme: "http", Host: c.Request.Host, Path: c.Request.URL.Path}
	if c.Request.TLS != nil {
		u.Scheme = "https"
	}
	if iss, err := url.Parse(a.issuer); a.issuer != "" && err == nil {
		u.Scheme, u.Host = iss.Scheme, iss.Host
	}
	q := c.Request.URL.Query()
	q.Del("page")
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	u.RawQuery = q.Encode()
	s := u.String()
	return &s
}
