package exchange

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// maxBody is the largest upstream answer read; a bigger one is a failure.
const maxBody = 64 << 10

// maxUsername is the longest {username} accepted (Django's limit).
const maxUsername = 150

// backend is a validated Backend.
type backend struct {
	Backend
	usernameParam string
	// templated reports whether UserDetailsURL holds {username}.
	templated bool
	// logURL is UserDetailsURL without its query (and with {username}
	// unfilled), for logs.
	logURL                     string
	id, username, email, first []string
	last                       []string
	introspectAuth             string
	// allowed holds AllowedClientIDs; nil with AnyClient.
	allowed map[string]bool
	// clientID is ClientIDField, split; nil without it.
	clientID []string
}

func newBackend(b Backend) (*backend, error) {
	if b.Name == "" || strings.ContainsAny(b.Name, ":") {
		return nil, fmt.Errorf("exchange: backend name %q is empty or holds ':'", b.Name)
	}
	nb := &backend{Backend: b, usernameParam: b.UsernameParam}
	if nb.usernameParam == "" {
		nb.usernameParam = "username"
	}
	n := strings.Count(b.UserDetailsURL, UsernamePlaceholder)
	if n > 1 {
		return nil, fmt.Errorf("exchange: backend %s: UserDetailsURL holds %s more than once", b.Name, UsernamePlaceholder)
	}
	nb.templated = n == 1
	probe := strings.Replace(b.UserDetailsURL, UsernamePlaceholder, "x", 1)
	if err := checkURL("backend "+b.Name+": UserDetailsURL", probe); err != nil {
		return nil, err
	}
	if nb.templated {
		// The placeholder must be in the path, so that escaping it with
		// url.PathEscape is the right escaping.
		i := strings.Index(b.UserDetailsURL, UsernamePlaceholder)
		if strings.ContainsAny(b.UserDetailsURL[:i], "?#") {
			return nil, fmt.Errorf("exchange: backend %s: %s must be in the path of UserDetailsURL", b.Name, UsernamePlaceholder)
		}
	}
	nb.logURL, _, _ = strings.Cut(b.UserDetailsURL, "?")
	if b.IntrospectionURL != "" {
		if err := checkURL("backend "+b.Name+": IntrospectionURL", b.IntrospectionURL); err != nil {
			return nil, err
		}
		if (b.IntrospectionClientID == "") != (b.IntrospectionClientSecret == "") {
			return nil, fmt.Errorf("exchange: backend %s: IntrospectionClientID and IntrospectionClientSecret go together", b.Name)
		}
		if b.IntrospectionClientID != "" {
			nb.introspectAuth = "Basic " + base64.StdEncoding.EncodeToString(
				[]byte(url.QueryEscape(b.IntrospectionClientID)+":"+url.QueryEscape(b.IntrospectionClientSecret)))
		}
	}
	if err := nb.setClients(); err != nil {
		return nil, err
	}
	field := func(f, def string) []string {
		if f == "" {
			f = def
		}
		return splitField(f)
	}
	nb.id = field(b.IDField, "id")
	nb.username = field(b.UsernameField, "username")
	nb.email = field(b.EmailField, "email")
	nb.first = field(b.FirstNameField, "first_name")
	nb.last = field(b.LastNameField, "last_name")
	return nb, nil
}

// setClients checks AllowedClientIDs and AnyClient and keeps the former
// as a set.
func (b *backend) setClients() error {
	switch {
	case b.AnyClient && len(b.AllowedClientIDs) > 0:
		return fmt.Errorf("exchange: backend %s: AllowedClientIDs and AnyClient do not go together", b.Name)
	case b.AnyClient:
		return nil
	case len(b.AllowedClientIDs) == 0:
		return fmt.Errorf("exchange: backend %s: set AllowedClientIDs (the upstream clients whose tokens are accepted) or AnyClient", b.Name)
	case b.IntrospectionURL == "" && b.ClientIDField == "":
		return fmt.Errorf("exchange: backend %s: AllowedClientIDs needs IntrospectionURL or ClientIDField, which tell a token's client", b.Name)
	}
	if b.ClientIDField != "" {
		b.clientID = splitField(b.ClientIDField)
	}
	b.allowed = map[string]bool{}
	for _, id := range b.AllowedClientIDs {
		if id == "" {
			return fmt.Errorf("exchange: backend %s: AllowedClientIDs holds an empty client ID", b.Name)
		}
		b.allowed[id] = true
	}
	return nil
}

// acceptsClient reports whether an introspection answer names an allowed
// client: its client_id, or one of its aud values (a string or a list of
// strings, RFC 7662 section 2.2 and RFC 7519 section 4.1.3).
func (b *backend) acceptsClient(obj map[string]any) bool {
	if b.allowed == nil {
		return true
	}
	if id, ok := obj["client_id"].(string); ok && b.allowed[id] {
		return true
	}
	switch aud := obj["aud"].(type) {
	case string:
		return b.allowed[aud]
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && b.allowed[s] {
				return true
			}
		}
	}
	return false
}

// errBadUsername is the answer to a {username} that cannot be put in a
// URL path segment.
var errBadUsername = oautherr.ErrInvalidRequest.WithDescription(
	"The username parameter must be 1 to 150 letters, digits or @.+-_ (and not . or ..).")

// userURL returns UserDetailsURL with {username} replaced by username,
// path-escaped. A username that is not 1 to 150 of Django's username
// characters (letters, digits, @.+-_), or is "." or "..", is refused: it
// could not name a single path segment.
func (b *backend) userURL(username string) (string, error) {
	if !b.templated {
		return b.UserDetailsURL, nil
	}
	if username == "" {
		return "", oautherr.ErrInvalidRequest.WithDescription("Backend '%s' needs the %s parameter.", b.Name, b.usernameParam)
	}
	if len(username) > maxUsername || username == "." || username == ".." {
		return "", errBadUsername
	}
	for i := 0; i < len(username); i++ {
		c := username[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '@' || c == '.' || c == '+' || c == '-' || c == '_') {
			return "", errBadUsername
		}
	}
	return strings.Replace(b.UserDetailsURL, UsernamePlaceholder, url.PathEscape(username), 1), nil
}

// details is what the upstream says of the token's user.
type details struct {
	id, username, email, first, last string
}

// fetch introspects token if the backend says so, then reads the token's
// user from the backend. It returns invalid_grant for a token the
// upstream rejects, and temporarily_unavailable for any other failure.
func (x *exchanger) fetch(ctx context.Context, b *backend, token, username string) (*details, error) {
	target, err := b.userURL(username)
	if err != nil {
		return nil, err
	}
	if b.IntrospectionURL != "" {
		if err := x.introspect(ctx, b, token); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	obj, status, err := x.get(ctx, b, target, token)
	if err != nil {
		x.logFailure(ctx, b, b.logURL, status, start, err)
		return nil, err
	}
	d := &details{
		id:       field(obj, b.id),
		username: field(obj, b.username),
		email:    field(obj, b.email),
		first:    field(obj, b.first),
		last:     field(obj, b.last),
	}
	if b.clientID != nil && !b.allowed[field(obj, b.clientID)] {
		return nil, errOtherClient
	}
	if d.id == "" {
		err := unavailable(b, "the user details have no %q", strings.Join(b.id, "."))
		x.logFailure(ctx, b, b.logURL, status, start, err)
		return nil, err
	}
	if b.templated && d.username != username {
		// The upstream answered for someone else than it was asked
		// about (or did not say whom): it is not the per-user lookup
		// the backend takes it for, so its answer is not trusted.
		x.log.WarnContext(ctx, "exchange: a {username} backend answered with another username than the one requested",
			"backend", b.Name, "url", b.logURL, "field", strings.Join(b.username, "."),
			"elapsed", time.Since(start).Round(time.Millisecond))
		return nil, errOtherUser
	}
	return d, nil
}

// errOtherUser is the answer when a {username} backend's answer names
// another user than the request's username.
var errOtherUser = oautherr.ErrInvalidGrant.WithDescription("The upstream provider did not answer for the requested user.")

func (x *exchanger) logFailure(ctx context.Context, b *backend, where string, status int, start time.Time, err error) {
	var e *oautherr.Error
	if errors.As(err, &e) && e.Status < 500 {
		return // the token's fault, not the upstream's
	}
	attrs := []any{"backend", b.Name, "url", where, "err", err, "elapsed", time.Since(start).Round(time.Millisecond)}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	x.log.WarnContext(ctx, "exchange: upstream call failed", attrs...)
}

// get calls the user-details URL. Its errors carry the status at most,
// never the token or the body.
func (x *exchanger) get(ctx context.Context, b *backend, target, token string) (map[string]any, int, error) {
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, unavailable(b, "building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	res, err := x.client.Do(req)
	if err != nil {
		return nil, 0, unavailable(b, "%w", redact(err))
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		drain(res.Body)
		return nil, res.StatusCode, errRejected
	case res.StatusCode == http.StatusNotFound && b.templated:
		drain(res.Body)
		return nil, res.StatusCode, oautherr.ErrInvalidGrant.WithDescription("The upstream provider knows no such user.")
	case res.StatusCode < 200 || res.StatusCode > 299:
		drain(res.Body)
		return nil, res.StatusCode, unavailable(b, "the user details answered %d", res.StatusCode)
	}
	obj, err := readObject(res.Body)
	if err != nil {
		return nil, res.StatusCode, unavailable(b, "the user details: %w", err)
	}
	return obj, res.StatusCode, nil
}

// introspect asks the backend's RFC 7662 endpoint whether token is active.
func (x *exchanger) introspect(ctx context.Context, b *backend, token string) error {
	start := time.Now()
	status, err := x.introspectCall(ctx, b, token)
	if err != nil {
		x.logFailure(ctx, b, b.IntrospectionURL, status, start, err)
	}
	return err
}

func (x *exchanger) introspectCall(ctx context.Context, b *backend, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.IntrospectionURL, strings.NewReader(form))
	if err != nil {
		return 0, unavailable(b, "building the introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if b.introspectAuth != "" {
		req.Header.Set("Authorization", b.introspectAuth)
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := x.client.Do(req)
	if err != nil {
		return 0, unavailable(b, "introspection: %w", redact(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		drain(res.Body)
		if b.introspectAuth == "" && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden) {
			return res.StatusCode, errRejected // the token itself was refused
		}
		return res.StatusCode, unavailable(b, "introspection answered %d", res.StatusCode)
	}
	obj, err := readObject(res.Body)
	if err != nil {
		return res.StatusCode, unavailable(b, "introspection: %w", err)
	}
	active, ok := obj["active"].(bool)
	if !ok {
		return res.StatusCode, unavailable(b, "introspection: the answer has no boolean active")
	}
	if !active {
		return res.StatusCode, errRejected
	}
	if !b.acceptsClient(obj) {
		return res.StatusCode, errOtherClient
	}
	return res.StatusCode, nil
}

// readObject reads a JSON object of at most maxBody bytes. Its errors say
// nothing of the body.
func readObject(r io.Reader) (map[string]any, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("the answer is over %d bytes", maxBody)
	}
	body = bytes.TrimSpace(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if len(body) == 0 || body[0] != '{' || dec.Decode(&obj) != nil || dec.More() {
		return nil, errors.New("the answer is not a JSON object")
	}
	return obj, nil
}

// drain reads a little of an unwanted body so the connection can be
// reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 4<<10)) }

// redact strips the URL from a *url.Error: a {username} URL names the
// user, and a query could hold anything the operator put there.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// field reads a dotted path of obj as text: a string as it is, a number
// as its JSON text; anything else, or nothing, is "".
func field(obj map[string]any, path []string) string {
	var v any = obj
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
