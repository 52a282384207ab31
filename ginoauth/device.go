package ginoauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Defaults of DeviceConfig.
const (
	DefaultDeviceCodeExpire       = 10 * time.Minute
	DefaultDevicePollInterval     = 5 * time.Second
	DefaultUserCodeAttemptsUser   = 20
	DefaultUserCodeAttemptsAddr   = 60
	DefaultUserCodeAttemptsWindow = 10 * time.Minute
)

// DeviceConfig configures the device authorization grant (RFC 8628),
// served when the Store implements store.DeviceCodes (memstore and
// redisstore do).
type DeviceConfig struct {
	// Store keeps the device authorizations. Nil means Config.Store, if
	// it implements store.DeviceCodes (set it when Config.Store is a
	// wrapper that hides it); with neither, the grant is not served.
	Store store.DeviceCodes
	// CodeExpire is the device code's and user code's lifetime
	// (expires_in). Zero means DefaultDeviceCodeExpire.
	CodeExpire time.Duration
	// PollInterval is the least time between two polls (interval); a
	// poll sooner is answered slow_down and adds 5 s to it. Zero means
	// DefaultDevicePollInterval.
	PollInterval time.Duration
	// UserCodeAttemptsPerUser and UserCodeAttemptsPerAddress bound the
	// user codes entered at the verification page (each entry and each
	// decision counts) per logged-in user and per source address in
	// UserCodeAttemptsWindow, then 429. Zero means the defaults; negative,
	// no limit.
	UserCodeAttemptsPerUser    int
	UserCodeAttemptsPerAddress int
	UserCodeAttemptsWindow     time.Duration
}

func (d DeviceConfig) withDefaults() DeviceConfig {
	if d.CodeExpire <= 0 {
		d.CodeExpire = DefaultDeviceCodeExpire
	}
	if d.PollInterval <= 0 {
		d.PollInterval = DefaultDevicePollInterval
	}
	if d.UserCodeAttemptsPerUser == 0 {
		d.UserCodeAttemptsPerUser = DefaultUserCodeAttemptsUser
	}
	if d.UserCodeAttemptsPerAddress == 0 {
		d.UserCodeAttemptsPerAddress = DefaultUserCodeAttemptsAddr
	}
	if d.UserCodeAttemptsWindow <= 0 {
		d.UserCodeAttemptsWindow = DefaultUserCodeAttemptsWindow
	}
	return d
}

// deviceCodes is the store's store.DeviceCodes, or nil.
func (p *Provider) deviceCodes() store.DeviceCodes { return deviceStore(p.cfg) }

func deviceStore(cfg Config) store.DeviceCodes {
	if cfg.Device.Store != nil {
		return cfg.Device.Store
	}
	d, _ := cfg.Store.(store.DeviceCodes)
	return d
}

// deviceGrantTypes is the device_code grant when the store backs it.
func deviceGrantTypes(cfg Config) []GrantType {
	if deviceStore(cfg) == nil {
		return nil
	}
	return []GrantType{{Name: store.GrantDeviceCode, PublicClients: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
		return p.deviceGrant(ctx, r.Client, r.Params)
	}}}
}

// DeviceAuthorizationResponse is RFC 8628 section 3.2's answer.
type DeviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorizationHandler is the device authorization endpoint (RFC
// 8628 section 3.1), with client authentication as at the token endpoint
// (public clients send their client_id) and its rate limits.
func (p *Provider) DeviceAuthorizationHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		resp, err := p.deviceAuthorize(c)
		if err != nil {
			p.clientEndpointError(c, "ginoauth: device authorization endpoint", err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.JSON(http.StatusOK, resp)
	}
}

func (p *Provider) deviceAuthorize(c *gin.Context) (*DeviceAuthorizationResponse, error) {
	ds := p.deviceCodes()
	if ds == nil {
		return nil, oautherr.ErrUnsupportedGrantType.WithDescription("The device authorization grant is not available.")
	}
	params, err := ParseParams(c.Request)
	if err != nil {
		return nil, err
	}
	app, err := p.authenticateThrottled(c, params)
	if err != nil {
		return nil, err
	}
	if !app.AllowsGrant(store.GrantDeviceCode) {
		return nil, oautherr.ErrUnauthorizedClient.WithDescription("The client may not use the device authorization grant.")
	}
	scopes, err := p.grantScopes(params["scope"], app.AllowedScopes)
	if err != nil {
		return nil, err
	}
	cfg := p.cfg.Device.withDefaults()
	deviceCode, userCode, err := p.saveDeviceAuthorization(c.Request.Context(), ds, app, scopes, cfg)
	if err != nil {
		return nil, err
	}
	verify := p.issuer(c) + p.prefix + "/device/"
	shown := FormatUserCode(userCode)
	return &DeviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                shown,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {shown}}.Encode(),
		ExpiresIn:               int64(cfg.CodeExpire / time.Second),
		Interval:                int64(cfg.PollInterval / time.Second),
	}, nil
}

// saveDeviceAuthorization mints a device code and draws user codes until
// one is free (a collision is rare: a few tries).
func (p *Provider) saveDeviceAuthorization(ctx context.Context, ds store.DeviceCodes, app *store.Application, scopes []string, cfg DeviceConfig) (string, string, error) {
	family, err := opaque.NewFamily()
	if err != nil {
		return "", "", err
	}
	deviceCode, err := p.codec.Mint(opaque.DevicePrefix, family)
	if err != nil {
		return "", "", err
	}
	now := p.now().UTC()
	d := &store.DeviceAuthorization{
		Key:        store.Key{Family: family, Signature: opaque.Signature(deviceCode)},
		ClientID:   app.ClientID,
		Scopes:     scopes,
		Generation: app.Generation,
		IssuedAt:   now,
		ExpiresAt:  now.Add(cfg.CodeExpire),
		Interval:   cfg.PollInterval,
	}
	for range 5 {
		if d.UserCode, err = newUserCode(); err != nil {
			return "", "", err
		}
		err = ds.SaveDeviceAuthorization(ctx, d)
		if !errors.Is(err, store.ErrDuplicate) {
			break
		}
	}
	if err != nil {
		return "", "", err
	}
	return deviceCode, d.UserCode, nil
}

// deviceGrant is RFC 8628 section 3.4-3.5: the poll of a device code.
// Every answer but the tokens is an error; the tokens are issued once,
// in the device code's family.
func (p *Provider) deviceGrant(ctx context.Context, app *store.Application, params map[string]string) (*TokenResponse, error) {
	raw := params["device_code"]
	if raw == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing device_code parameter.")
	}
	invalid := oautherr.ErrInvalidGrant.WithDescription("The device code is invalid or was already used.")
	family, err := p.codec.Parse(opaque.DevicePrefix, raw)
	if err != nil {
		return nil, invalid
	}
	k := store.Key{Family: family, Signature: opaque.Signature(raw)}
	ds := p.deviceCodes()
	d, tooFast, err := ds.PollDeviceAuthorization(ctx, k, app.ClientID, p.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if d.ClientID != app.ClientID || d.Generation != app.Generation || d.Status == store.DeviceConsumed {
		return nil, invalid
	}
	if !p.now().Before(d.ExpiresAt) {
		return nil, oautherr.ErrExpiredToken.WithDescription("The device code has expired.")
	}
	switch d.Status {
	case store.DeviceDenied:
		return nil, oautherr.ErrDeviceAccessDenied.WithDescription("The user denied the request.")
	case store.DevicePending:
		if tooFast {
			return nil, oautherr.ErrSlowDown.WithDescription("Polling too fast; wait %d seconds between polls.", int64(d.Interval/time.Second))
		}
		return nil, oautherr.ErrAuthorizationPending.WithDescription("The user has not yet decided.")
	}
	if err := ds.ConsumeDeviceAuthorization(ctx, k); err != nil {
		if errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrNotFound) {
			return nil, invalid
		}
		return nil, err
	}
	resp, err := p.issueInFamily(ctx, family, app, d.UserID, d.Username, d.Scopes, true, p.requestAudience(ctx))
	if errors.Is(err, store.ErrRevoked) {
		return nil, invalid
	}
	return resp, err
}
