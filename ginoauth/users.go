package ginoauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// UserAuthenticator checks a resource owner's username and password, for
// the password grant (and, in apps, for their login page).
type UserAuthenticator interface {
	// Authenticate returns the user, ErrBadCredentials when the username
	// or password is wrong or the user is inactive, or another error
	// (such as one wrapping store.ErrUnavailable) when it cannot tell.
	Authenticate(ctx context.Context, username, password string) (*store.User, error)
}

// ErrBadCredentials is UserAuthenticator's answer to a wrong username or
// password.
var ErrBadCredentials = errors.New("ginoauth: invalid username or password")

// PasswordCost is the bcrypt cost of password hashes HashPassword makes.
const PasswordCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash of password, for store.User.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	if err != nil {
		return "", fmt.Errorf("ginoauth: hash password: %w", err)
	}
	return string(h), nil
}

// StoreUsers authenticates against the users of a store.Users with their
// bcrypt hashes. An unknown username, and a user whose hash is unusable
// (no password: social sign-in) or not bcrypt, cost the same bcrypt
// comparison as a known one, so response time does not tell which
// usernames exist or which can log in with a password. (A user whose hash
// has another bcrypt cost than PasswordCost costs that cost: rehash such
// passwords at the next login.)
type StoreUsers struct {
	Users store.Users
	// Compare compares a bcrypt hash with a password, as (and by default)
	// bcrypt.CompareHashAndPassword. It is a hook for tests and
	// instrumentation; a replacement must cost what bcrypt costs.
	Compare func(hash, password []byte) error
}

// dummyHash is compared against when the user does not exist. It is made
// on first use, so that importing the package costs no bcrypt hash.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("ginoauth dummy password"), PasswordCost)
	return h
})

// Authenticate implements UserAuthenticator.
func (s StoreUsers) Authenticate(ctx context.Context, username, password string) (*store.User, error) {
	compare := s.Compare
	if compare == nil {
		compare = bcrypt.CompareHashAndPassword
	}
	u, err := s.Users.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		_ = compare(dummyHash(), []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	hash := []byte(u.PasswordHash)
	if _, err := bcrypt.Cost(hash); err != nil {
		// An unusable hash (a user created by social sign-in: empty or
		// "!"-marked, as Django's) or one that is not bcrypt: this user
		// cannot log in with a password, and costs the comparison an
		// unknown user costs, so timing does not single them out.
		_ = compare(dummyHash(), []byte(password))
		return nil, ErrBadCredentials
	}
	if compare(hash, []byte(password)) != nil || !u.IsActive {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// NewUser is what CreateUser needs to register a resource owner.
type NewUser struct {
	Username  string
	Password  string
	Email     string
	FirstName string
	LastName  string
	IsStaff   bool
}

// CreateUser registers a resource owner in the provider's store with a
// bcrypt hash of the password (the password itself is not kept). It returns
// an error wrapping store.ErrDuplicate if the username is taken.
func (p *Provider) CreateUser(ctx context.Context, nu NewUser) (*store.User, error) {
	if err := validUsername(nu.Username); err != nil {
		return nil, err
	}
	if nu.Password == "" {
		return nil, errors.New("ginoauth: password must not be empty")
	}
	if len(nu.Password) > 72 {
		return nil, errors.New("ginoauth: password must be at most 72 bytes (bcrypt's limit)")
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return nil, err
	}
	id := newID()
	u := &store.User{
		ID:           id,
		Username:     nu.Username,
		PasswordHash: hash,
		Email:        nu.Email,
		FirstName:    nu.FirstName,
		LastName:     nu.LastName,
		IsActive:     true,
		IsStaff:      nu.IsStaff,
		DateJoined:   p.now().UTC().Truncate(time.Second),
	}
	if err := p.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("ginoauth: create user %q: %w", nu.Username, err)
	}
	return u, nil
}

// validUsername accepts Django's username characters: letters, digits and
// @.+-_ , 1 to 150 of them.
func validUsername(name string) error {
	if name == "" || len(name) > 150 {
		return errors.New("ginoauth: username must be 1 to 150 characters")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '@' || r == '.' || r == '+' || r == '-' || r == '_':
		default:
			return fmt.Errorf("ginoauth: username may hold only letters, digits and @.+-_ (not %q)", r)
		}
	}
	return nil
}
