package oautherr

import "net/http"

// The token endpoint errors of the device authorization grant (RFC 8628
// section 3.5), all 400.
var (
	ErrAuthorizationPending = &Error{Code: "authorization_pending", Status: http.StatusBadRequest}
	ErrSlowDown             = &Error{Code: "slow_down", Status: http.StatusBadRequest}
	ErrExpiredToken         = &Error{Code: "expired_token", Status: http.StatusBadRequest}
	// ErrDeviceAccessDenied is access_denied as the token endpoint answers
	// it (400), the user having denied the device authorization.
	ErrDeviceAccessDenied = &Error{Code: "access_denied", Status: http.StatusBadRequest}
)
