package ginoauth

import (
	"errors"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// asError maps any error to the *oautherr.Error the HTTP edge answers: an
// *oautherr.Error as it is, a store outage to 503 temporarily_unavailable,
// anything else to 500 server_error (keeping the cause for logs).
func asError(err error) *oautherr.Error {
	var e *oautherr.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrUnavailable) {
		return oautherr.ErrTemporarilyUnavailable.WithCause(err)
	}
	return oautherr.ErrServerError.WithCause(err)
}
