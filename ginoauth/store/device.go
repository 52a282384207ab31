package store

import (
	"context"
	"time"
)

// GrantDeviceCode is the grant_type of RFC 8628 section 3.4.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// DeviceStatus is where a device authorization stands.
type DeviceStatus string

// The states of a device authorization: pending until the user decides,
// then approved or denied; an approved one is consumed when its tokens are
// issued, exactly once.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceConsumed DeviceStatus = "consumed"
)

// DeviceRetention is how long past its ExpiresAt a store keeps a device
// authorization, so that a late poll is answered expired_token (and a
// poll after success invalid_grant) rather than as an unknown code.
const DeviceRetention = 10 * time.Minute

// DeviceAuthorization is the stored record of an RFC 8628 device
// authorization. Key is that of the device code (family and signature; the
// store keeps a digest of the signature only); UserCode is the normalised
// user code, by which the verification page finds it.
type DeviceAuthorization struct {
	Key        Key       `json:"-"`
	UserCode   string    `json:"uc"`
	ClientID   string    `json:"c"`
	Scopes     []string  `json:"sc,omitempty"`
	Generation int64     `json:"g,omitempty"`
	IssuedAt   time.Time `json:"i"`
	ExpiresAt  time.Time `json:"e"`
	// Interval is the least time between two polls; each poll sooner
	// than that adds 5 seconds to it (RFC 8628 section 3.5, slow_down).
	Interval time.Duration `json:"iv"`

	// Set by the store: the state, and the user who decided.
	Status   DeviceStatus `json:"-"`
	UserID   string       `json:"-"`
	Username string       `json:"-"`
}

// DeviceCodes keeps RFC 8628 device authorizations. It is optional: a
// Store that also implements it backs the device authorization grant,
// which the provider type-asserts. Every method but Save is one atomic
// step on one authorization.
type DeviceCodes interface {
	// SaveDeviceAuthorization stores a new pending authorization, kept
	// until ExpiresAt + DeviceRetention, its user code findable until
	// ExpiresAt. ErrDuplicate if the user code is taken (the caller draws
	// another): nothing is stored then.
	SaveDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// GetDeviceAuthorizationByUserCode returns the authorization of a
	// normalised user code, or ErrNotFound (unknown or past ExpiresAt).
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization records the user's decision on the pending
	// authorization of userCode: ErrNotFound if there is none, ErrConsumed
	// if it was decided already (nothing changes then).
	DecideDeviceAuthorization(ctx context.Context, userCode string, approve bool, userID, username string) error
	// PollDeviceAuthorization returns the authorization of the device code
	// k, or ErrNotFound. When it is pending, its ClientID is clientID
	// (another client's poll changes nothing) and the last poll was less than
	// its Interval less a tenth (the slack a client polling on a ticker
	// needs against network jitter) before now, it adds 5 seconds to the Interval and
	// reports tooFast; a pending authorization's poll time is recorded.
	// Other states change nothing.
	PollDeviceAuthorization(ctx context.Context, k Key, clientID string, now time.Time) (d *DeviceAuthorization, tooFast bool, err error)
	// ConsumeDeviceAuthorization marks the approved authorization of k
	// consumed: of concurrent calls exactly one gets nil, the others
	// ErrConsumed; ErrNotFound if there is no such approved authorization.
	ConsumeDeviceAuthorization(ctx context.Context, k Key) error
}

// SlowDownStep is what each too-fast poll adds to an interval.
const SlowDownStep = 5 * time.Second
