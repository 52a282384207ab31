package exchange

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// maxCreateAttempts bounds the usernames tried for a new user.
const maxCreateAttempts = 8

// localUser returns the local user linked to the upstream account d
// describes, creating and linking one on first sight.
//
// The link is claimed first, with a new user ID, and the user created
// after: of concurrent first exchanges for one account exactly one claims
// it and the others use its user. If creating the user fails after the
// link was made, the next exchange finds the link without its user and
// creates it then.
func localUser(ctx context.Context, users store.Users, links store.SocialLinks, b *backend, d *details) (*store.User, error) {
	for range 3 {
		id, err := links.GetSocialUser(ctx, b.Name, d.id)
		switch {
		case err == nil:
			u, err := users.GetUser(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return createUser(ctx, users, b, d, id) // a link left by a failed creation
			}
			return u, err
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		id, err = newID()
		if err != nil {
			return nil, err
		}
		err = links.LinkSocialUser(ctx, b.Name, d.id, id)
		if errors.Is(err, store.ErrDuplicate) {
			continue // linked concurrently: use that user
		}
		if err != nil {
			return nil, err
		}
		return createUser(ctx, users, b, d, id)
	}
	return nil, errors.New("exchange: the social link keeps changing")
}

// createUser creates the user id for d with an unusable password, under
// the first free username among its preferred one and suffixed variants.
func createUser(ctx context.Context, users store.Users, b *backend, d *details, id string) (*store.User, error) {
	hash, err := unusablePassword()
	if err != nil {
		return nil, err
	}
	base := localUsername(b, d.username)
	for i := range maxCreateAttempts {
		name := base
		if i > 0 {
			suffix, err := randomHex(2)
			if err != nil {
				return nil, err
			}
			name = base[:min(len(base), maxUsername-5)] + "_" + suffix
		}
		u := &store.User{
			ID:           id,
			Username:     name,
			PasswordHash: hash,
			Email:        d.email,
			FirstName:    d.first,
			LastName:     d.last,
			IsActive:     true,
			DateJoined:   time.Now().UTC().Truncate(time.Second),
		}
		err := users.CreateUser(ctx, u)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, err
		}
		// The ID taken means a concurrent exchange created this very
		// user; else the username is taken: try another.
		if got, err := users.GetUser(ctx, id); err == nil {
			return got, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("exchange: no free username for %q after %d attempts", base, maxCreateAttempts)
}

// localUsername is b.UsernamePrefix and the upstream username, with every
// character outside Django's username set (letters, digits, @.+-_)
// replaced by '_', cut to 150 bytes; Name + "_user" when the upstream gave
// none.
func localUsername(b *backend, upstream string) string {
	if upstream == "" {
		upstream = b.Name + "_user"
	}
	out := make([]byte, 0, len(b.UsernamePrefix)+len(upstream))
	for _, s := range []string{b.UsernamePrefix, upstream} {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '@' || c == '.' || c == '+' || c == '-' || c == '_' {
				out = append(out, c)
			} else {
				out = append(out, '_')
			}
		}
	}
	if len(out) > maxUsername {
		out = out[:maxUsername]
	}
	return string(out)
}

// unusablePassword returns a PasswordHash no password matches, as
// Django's set_unusable_password: '!' and random text, which is not a
// bcrypt hash, so the password grant always refuses it.
func unusablePassword() (string, error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "!" + base64.RawURLEncoding.EncodeToString(b), nil
}

func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
