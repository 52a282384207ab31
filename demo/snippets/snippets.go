// Package snippets is the model of the demo's snippets API, the one of
// Django REST Framework's tutorial: a code snippet with a title, a language
// and a style, owned by the user who created it.
//
// It holds the Snippet type, the validation of a client's JSON input
// (DecodeInput, with DRF's per-field messages) and the SnippetStore
// interface (named Store here), with two implementations that pass the same
// tests: Memory, in process, and Redis, on any redis.UniversalClient.
//
// Stores report errors with the sentinels of package
// github.com/ginoauth/toolkit/ginoauth/store: store.ErrNotFound for a
// snippet that does not exist, and an error wrapping store.ErrUnavailable
// when the backend fails, which the HTTP layer answers with 503.
package snippets

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Snippet is a stored code snippet.
type Snippet struct {
	// ID is assigned by the store on Create: 1, 2, 3...
	ID int64
	// Title is at most MaxTitleLength characters; it may be empty.
	Title string
	// Code is the snippet itself; never empty.
	Code string
	// Linenos asks for line numbers when the snippet is shown.
	Linenos bool
	// Language is one of Languages.
	Language string
	// Style is one of Styles.
	Style string
	// Owner is the username of the user who created the snippet, and
	// OwnerID that user's ID, which decides who may change it.
	Owner   string
	OwnerID string
	// Created is when the snippet was created, in UTC, to the microsecond.
	Created time.Time
}

// View is a Snippet as the API shows it: every field but OwnerID, with
// DRF's field names.
type View struct {
	ID       int64     `json:"id"`
	Title    string    `json:"title"`
	Code     string    `json:"code"`
	Linenos  bool      `json:"linenos"`
	Language string    `json:"language"`
	Style    string    `json:"style"`
	Owner    string    `json:"owner"`
	Created  time.Time `json:"created"`
}

// View returns s as the API shows it.
func (s *Snippet) View() View {
	return View{
		ID: s.ID, Title: s.Title, Code: s.Code, Linenos: s.Linenos,
		Language: s.Language, Style: s.Style, Owner: s.Owner, Created: s.Created,
	}
}

// Store keeps snippets: the SnippetStore of the demo. Implementations are
// safe for concurrent use, and never share memory with their callers.
type Store interface {
	// Create stores a new snippet and sets s.ID to its new, unique ID.
	Create(ctx context.Context, s *Snippet) error
	// Get returns the snippet with that ID or store.ErrNotFound.
	Get(ctx context.Context, id int64) (*Snippet, error)
	// List returns one page of the list: at most limit snippets (none if
	// limit is 0), skipping the first offset, in the list order (Created,
	// then ID); and how many snippets there are in all. It reads only that
	// page, never the whole list. A page past the end is empty.
	List(ctx context.Context, offset, limit int) (page []*Snippet, count int, err error)
	// Update replaces the stored snippet with s's ID; store.ErrNotFound if
	// there is none (it was deleted). It never creates a snippet.
	Update(ctx context.Context, s *Snippet) error
	// Delete removes the snippet with that ID; store.ErrNotFound if there
	// is none.
	Delete(ctx context.Context, id int64) error
}

// listOrder compares two snippets, given by creation time and ID, in the
// list order.
func listOrder(aCreated time.Time, aID int64, bCreated time.Time, bID int64) int {
	return cmp.Or(aCreated.Compare(bCreated), cmp.Compare(aID, bID))
}

// sortByCreated orders snippets as List returns them.
func sortByCreated(list []*Snippet) {
	slices.SortFunc(list, func(a, b *Snippet) int {
		return listOrder(a.Created, a.ID, b.Created, b.ID)
	})
}

// pageBounds clamps [offset, offset+limit) to a list of n.
func pageBounds(offset, limit, n int) (lo, hi int) {
	lo = min(max(offset, 0), n)
	return lo, lo + min(max(limit, 0), n-lo)
}
