package snippets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestStores runs the same contract against every Store implementation.
func TestStores(t *testing.T) {
	t.Parallel()
	impls := []struct {
		name string
		new  func(t *testing.T) snippets.Store
	}{
		{"memory", func(*testing.T) snippets.Store { return snippets.NewMemory() }},
		{"redis", func(t *testing.T) snippets.Store {
			client, prefix := redistest.Client(t)
			return snippets.NewRedis(client, prefix)
		}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, impl.new)
		})
	}
}

func testStore(t *testing.T, newStore func(t *testing.T) snippets.Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC)
	mk := func(title string, created time.Time) *snippets.Snippet {
		return &snippets.Snippet{
			Title: title, Code: "print(" + title + ")", Language: "python", Style: "friendly",
			Owner: "alice", OwnerID: "u1", Created: created,
		}
	}

	t.Run("create get update delete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.Get(ctx, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get on empty store: err = %v, want ErrNotFound", err)
		}
		a := mk("a", base)
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		if a.ID != 1 {
			t.Errorf("first ID = %d, want 1", a.ID)
		}
		b := mk("b", base)
		if err := s.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.ID != 2 {
			t.Errorf("second ID = %d, want 2", b.ID)
		}
		got, err := s.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !same(got, a) {
			t.Errorf("Get = %+v, want %+v", *got, *a)
		}
		got.Title, got.Linenos, got.Language = "changed", true, "go"
		if err := s.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := s.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !same(again, got) {
			t.Errorf("after Update, Get = %+v, want %+v", *again, *got)
		}
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second Delete: err = %v, want ErrNotFound", err)
		}
		if err := s.Update(ctx, got); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Update after Delete: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Update recreated a deleted snippet: err = %v", err)
		}
		list, err := listAll(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("List after Delete = %v, want only snippet %d", list, b.ID)
		}
	})

	t.Run("list ordered by created", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		list, err := listAll(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if list == nil || len(list) != 0 {
			t.Fatalf("List on empty store = %#v, want an empty, non-nil slice", list)
		}
		// Created out of ID order, and two at the same instant.
		for _, c := range []struct {
			title string
			at    time.Duration
		}{{"third", 3 * time.Second}, {"first", time.Second}, {"second-a", 2 * time.Second}, {"second-b", 2 * time.Second}} {
			if err := s.Create(ctx, mk(c.title, base.Add(c.at))); err != nil {
				t.Fatal(err)
			}
		}
		list, err = listAll(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, sn := range list {
			titles = append(titles, sn.Title)
		}
		if got, want := strings.Join(titles, ","), "first,second-a,second-b,third"; got != want {
			t.Errorf("List order = %s, want %s", got, want)
		}
	})

	t.Run("list pages", func(t *testing.T) {
		t.Parallel()
		testListPages(t, newStore(t), mk, base)
	})

	t.Run("callers do not share memory", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := mk("a", base)
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.Title = "mutated after create"
		got, _ := s.Get(ctx, a.ID)
		if got.Title != "a" {
			t.Errorf("store kept the caller's pointer: title %q", got.Title)
		}
		got.Title = "mutated after get"
		again, _ := s.Get(ctx, a.ID)
		if again.Title != "a" {
			t.Errorf("store returned its own memory: title %q", again.Title)
		}
	})

	t.Run("concurrent creates get distinct ids", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 20
		ids := make(chan int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				sn := mk(fmt.Sprint(i), base)
				if err := s.Create(ctx, sn); err != nil {
					t.Error(err)
					return
				}
				ids <- sn.ID
			})
		}
		wg.Wait()
		close(ids)
		seen := map[int64]bool{}
		for id := range ids {
			if seen[id] {
				t.Errorf("ID %d given twice", id)
			}
			seen[id] = true
		}
		list, err := listAll(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != n {
			t.Errorf("List has %d snippets, want %d", len(list), n)
		}
	})
}

// testListPages checks that List returns pages of the list order, with
// snippets created at one instant in ID order.
func testListPages(t *testing.T, s snippets.Store, mk func(string, time.Time) *snippets.Snippet, base time.Time) {
	ctx := context.Background()
	// 25 snippets: IDs 1 to 25, where 9 to 12 share one instant (as
	// concurrent creates may), and 20 comes before every other.
	for i := 1; i <= 25; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		if i >= 9 && i <= 12 {
			at = base.Add(9 * time.Second)
		}
		if i == 20 {
			at = base
		}
		if err := s.Create(ctx, mk(fmt.Sprint(i), at)); err != nil {
			t.Fatal(err)
		}
	}
	order := []int{20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25}
	tests := []struct {
		offset, limit int
		want          []int
	}{
		{0, 10, order[:10]},
		{10, 10, order[10:20]},
		{20, 10, order[20:]},
		{8, 3, order[8:11]},
		{25, 10, nil},
		{1000, 10, nil},
		{0, 0, nil},
	}
	for _, tt := range tests {
		page, count, err := s.List(ctx, tt.offset, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, sn := range page {
			got = append(got, int(sn.ID))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || count != 25 {
			t.Errorf("List(%d, %d) = %v, %d; want %v, 25", tt.offset, tt.limit, got, count, tt.want)
		}
		if page == nil {
			t.Errorf("List(%d, %d) = nil, want an empty, non-nil slice", tt.offset, tt.limit)
		}
	}
}

// listAll lists every snippet of s, checking the count.
func listAll(ctx context.Context, s snippets.Store) ([]*snippets.Snippet, error) {
	list, count, err := s.List(ctx, 0, 1000)
	if err == nil && count != len(list) {
		err = fmt.Errorf("List: count %d, but %d snippets", count, len(list))
	}
	return list, err
}

// TestRedisUnavailable checks that every operation on an unreachable Redis
// fails with an error wrapping store.ErrUnavailable.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	s := snippets.NewRedis(redistest.Unreachable(t), "demo:")
	ctx := context.Background()
	sn := &snippets.Snippet{ID: 1, Code: "x", Created: time.Now()}
	checks := map[string]error{
		"Create": s.Create(ctx, sn),
		"Update": s.Update(ctx, sn),
		"Delete": s.Delete(ctx, 1),
	}
	_, checks["Get"] = s.Get(ctx, 1)
	_, _, checks["List"] = s.List(ctx, 0, 10)
	for op, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: err = %v, want one wrapping store.ErrUnavailable", op, err)
		}
	}
}

func TestDecodeInput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", snippets.MaxTitleLength)
	tests := []struct {
		name        string
		body        string
		requireCode bool
		maxCode     int               // DecodeInput's maxCodeBytes
		wantFields  map[string]string // nil: valid
		wantDesc    string            // substring of Description, for body errors
	}{
		{name: "minimal", body: `{"code":"x"}`, requireCode: true},
		{name: "all fields", body: `{"title":"t","code":"x","linenos":true,"language":"go","style":"monokai"}`, requireCode: true},
		{name: "title of 100 characters", body: `{"code":"x","title":"` + long + `"}`, requireCode: true},
		{name: "blank title", body: `{"code":"x","title":""}`, requireCode: true},
		{name: "read-only fields ignored", body: `{"id":9,"owner":"mallory","created":"x","code":"x"}`, requireCode: true},
		{name: "partial without code", body: `{"title":"t"}`},
		{name: "empty object partial", body: `{}`},
		{name: "missing code", body: `{"title":"t"}`, requireCode: true, wantFields: map[string]string{"code": "This field is required."}},
		{name: "blank code", body: `{"code":"  \n"}`, requireCode: true, wantFields: map[string]string{"code": "This field may not be blank."}},
		{name: "title too long", body: `{"code":"x","title":"` + long + `x"}`, wantFields: map[string]string{"title": "Ensure this field has no more than 100 characters."}},
		{name: "code of 64 KiB", body: `{"code":"` + strings.Repeat("x", 64<<10) + `"}`, requireCode: true},
		{name: "code over 64 KiB", body: `{"code":"` + strings.Repeat("x", 64<<10+1) + `"}`, requireCode: true,
			wantFields: map[string]string{"code": "Ensure this field has no more than 65536 bytes."}},
		{name: "code over 64 KiB in UTF-8", body: `{"code":"` + strings.Repeat("é", 32<<10) + `x"}`, requireCode: true,
			wantFields: map[string]string{"code": "Ensure this field has no more than 65536 bytes."}},
		{name: "code over a limit of 10", body: `{"code":"12345678901"}`, maxCode: 10, wantFields: map[string]string{"code": "Ensure this field has no more than 10 bytes."}},
		{name: "code at a limit of 10", body: `{"code":"1234567890"}`, maxCode: 10},
		{name: "title not a string", body: `{"code":"x","title":5}`, wantFields: map[string]string{"title": "Not a valid string."}},
		{name: "code null", body: `{"code":null}`, wantFields: map[string]string{"code": "This field may not be null."}},
		{name: "linenos not a bool", body: `{"code":"x","linenos":"yes"}`, wantFields: map[string]string{"linenos": "Must be a valid boolean."}},
		{name: "bad language", body: `{"code":"x","language":"cobol"}`, wantFields: map[string]string{"language": `"cobol" is not a valid choice.`}},
		{name: "bad style", body: `{"code":"x","style":1}`, wantFields: map[string]string{"style": "Not a valid string."}},
		{name: "unknown field", body: `{"code":"x","author":"me"}`, wantFields: map[string]string{"author": "Unknown field."}},
		{name: "several errors", body: `{"title":7,"linenos":1}`, requireCode: true, wantFields: map[string]string{
			"title": "Not a valid string.", "linenos": "Must be a valid boolean.", "code": "This field is required."}},
		{name: "empty body", body: ` `, wantDesc: "empty"},
		{name: "bad json", body: `{"code":`, wantDesc: "not valid JSON"},
		{name: "array", body: `[{"code":"x"}]`, wantDesc: "must be a JSON object"},
		{name: "null", body: `null`, wantDesc: "must be a JSON object"},
		{name: "string", body: `"x"`, wantDesc: "must be a JSON object"},
		{name: "two objects", body: `{"code":"x"} {}`, wantDesc: "nothing after it"},
		{name: "trailing garbage", body: `{"code":"x"} x`, wantDesc: "nothing after it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := snippets.DecodeInput([]byte(tt.body), tt.requireCode, tt.maxCode)
			if tt.wantFields == nil && tt.wantDesc == "" {
				if err != nil {
					t.Fatalf("DecodeInput: %v", err)
				}
				if in == nil {
					t.Fatal("DecodeInput returned nil input")
				}
				return
			}
			var ie *snippets.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInput err = %v, want *InputError", err)
			}
			if !strings.Contains(ie.Description, tt.wantDesc) {
				t.Errorf("Description = %q, want it to contain %q", ie.Description, tt.wantDesc)
			}
			if len(ie.Fields) != len(tt.wantFields) {
				t.Errorf("Fields = %v, want %v", ie.Fields, tt.wantFields)
			}
			for k, v := range tt.wantFields {
				if ie.Fields[k] != v {
					t.Errorf("Fields[%q] = %q, want %q", k, ie.Fields[k], v)
				}
			}
		})
	}
}

func TestInputDefaultsAndApply(t *testing.T) {
	t.Parallel()
	in, err := snippets.DecodeInput([]byte(`{"code":"x"}`), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := in.New()
	if s.Title != "" || s.Linenos || s.Language != "python" || s.Style != "friendly" || s.Code != "x" {
		t.Errorf("New with defaults = %+v", *s)
	}
	patch, err := snippets.DecodeInput([]byte(`{"linenos":true,"style":"vim"}`), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	patch.Apply(s)
	if !s.Linenos || s.Style != "vim" || s.Code != "x" || s.Language != "python" {
		t.Errorf("after Apply = %+v", *s)
	}
}

// same compares snippets field by field, times with Equal.
func same(a, b *snippets.Snippet) bool {
	x, y := *a, *b
	if !x.Created.Equal(y.Created) {
		return false
	}
	x.Created, y.Created = time.Time{}, time.Time{}
	return x == y
}

// TestDecodeInputStrictJSON: a body with invalid UTF-8 (which
// encoding/json would store as U+FFFD) or with a member twice (whose last
// value encoding/json would keep) is refused, at any depth (security
// review, issue 8 finding 15).
func TestDecodeInputStrictJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantDesc string
	}{
		{"invalid UTF-8 in code", "{\"code\":\"x\xff\"}", "UTF-8"},
		{"invalid UTF-8 in title", "{\"code\":\"x\",\"title\":\"\xc3\"}", "UTF-8"},
		{"invalid UTF-8 in a key", "{\"code\":\"x\",\"\xfe\":1}", "UTF-8"},
		{"duplicate code", `{"code":"x","code":"y"}`, `"code"`},
		{"duplicate title", `{"title":"a","code":"x","title":"b"}`, `"title"`},
		{"duplicate read-only field", `{"code":"x","id":1,"id":2}`, `"id"`},
		{"duplicate in a nested object", `{"code":"x","created":{"a":1,"a":2}}`, `"a"`},
		{"duplicate by escape", `{"code":"x","\u0063ode":"y"}`, `"code"`},
		{"duplicate after nested values", `{"created":{"a":[1,{"b":2}]},"code":"x","title":"","code":"y"}`, `"code"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snippets.DecodeInput([]byte(tt.body), true, 0)
			var ie *snippets.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInput(%q) err = %v, want *InputError", tt.body, err)
			}
			if !strings.Contains(ie.Description, tt.wantDesc) {
				t.Errorf("Description = %q, want it to contain %q", ie.Description, tt.wantDesc)
			}
		})
	}
	// Valid UTF-8 beyond ASCII, and the same key in two objects, pass.
	if _, err := snippets.DecodeInput([]byte(`{"code":"é 日本 🎉","created":{"a":[{"a":1},{"a":2}]},"title":"ü","id":[]}`), true, 0); err != nil {
		t.Errorf("valid body refused: %v", err)
	}
}
