package memstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var _ store.DeviceCodes = (*Store)(nil)

// deviceTable keeps device authorizations (RFC 8628) under its own lock;
// its zero value is ready.
type deviceTable struct {
	mu       sync.Mutex
	byFamily map[string]*deviceEntry
	byCode   map[string]string // normalised user code -> family
	sweepAt  int
}

type deviceEntry struct {
	d        store.DeviceAuthorization
	lastPoll time.Time
}

func cloneDevice(d *store.DeviceAuthorization) *store.DeviceAuthorization {
	cp := *d
	cp.Scopes = slices.Clone(d.Scopes)
	return &cp
}

// sweepLocked drops the authorizations past their retention once the
// table has doubled since the last sweep.
func (t *deviceTable) sweepLocked(now time.Time) {
	if t.byFamily == nil {
		t.byFamily, t.byCode = map[string]*deviceEntry{}, map[string]string{}
	}
	if len(t.byFamily) < max(t.sweepAt, 64) {
		return
	}
	for fam, e := range t.byFamily {
		if !now.Before(e.d.ExpiresAt.Add(store.DeviceRetention)) {
			delete(t.byFamily, fam)
			if t.byCode[e.d.UserCode] == fam {
				delete(t.byCode, e.d.UserCode)
			}
		}
	}
	t.sweepAt = 2 * len(t.byFamily)
}

// SaveDeviceAuthorization implements store.DeviceCodes.
func (s *Store) SaveDeviceAuthorization(_ context.Context, d *store.DeviceAuthorization) error {
	if d == nil || d.Key.Family == "" || d.Key.Signature == "" || d.UserCode == "" || d.ExpiresAt.IsZero() {
		return fmt.Errorf("memstore: device authorization without Key, UserCode or ExpiresAt")
	}
	now := s.now()
	t := &s.device
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	if fam, ok := t.byCode[d.UserCode]; ok {
		if e, ok := t.byFamily[fam]; ok && now.Before(e.d.ExpiresAt) {
			return fmt.Errorf("%w: user code", store.ErrDuplicate)
		}
	}
	if _, ok := t.byFamily[d.Key.Family]; ok {
		return fmt.Errorf("%w: device code family", store.ErrDuplicate)
	}
	cp := cloneDevice(d)
	cp.Status, cp.UserID, cp.Username = store.DevicePending, "", ""
	t.byFamily[d.Key.Family] = &deviceEntry{d: *cp}
	t.byCode[d.UserCode] = d.Key.Family
	return nil
}

// GetDeviceAuthorizationByUserCode implements store.DeviceCodes.
func (s *Store) GetDeviceAuthorizationByUserCode(_ context.Context, userCode string) (*store.DeviceAuthorization, error) {
	now := s.now()
	t := &s.device
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byUserCodeLocked(userCode, now)
	if e == nil {
		return nil, store.ErrNotFound
	}
	return cloneDevice(&e.d), nil
}

func (t *deviceTable) byUserCodeLocked(userCode string, now time.Time) *deviceEntry {
	fam, ok := t.byCode[userCode]
	if !ok {
		return nil
	}
	e, ok := t.byFamily[fam]
	if !ok || !now.Before(e.d.ExpiresAt) {
		return nil
	}
	return e
}

// DecideDeviceAuthorization implements store.DeviceCodes.
func (s *Store) DecideDeviceAuthorization(_ context.Context, userCode string, approve bool, userID, username string) error {
	now := s.now()
	t := &s.device
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byUserCodeLocked(userCode, now)
	if e == nil {
		return store.ErrNotFound
	}
	if e.d.Status != store.DevicePending {
		return store.ErrConsumed
	}
	e.d.Status = store.DeviceDenied
	if approve {
		e.d.Status = store.DeviceApproved
	}
	e.d.UserID, e.d.Username = userID, username
	return nil
}

func (t *deviceTable) byKeyLocked(k store.Key, now time.Time) *deviceEntry {
	e, ok := t.byFamily[k.Family]
	if !ok || subtle.ConstantTimeCompare([]byte(e.d.Key.Signature), []byte(k.Signature)) != 1 ||
		!now.Before(e.d.ExpiresAt.Add(store.DeviceRetention)) {
		return nil
	}
	return e
}

// PollDeviceAuthorization implements store.DeviceCodes.
func (s *Store) PollDeviceAuthorization(_ context.Context, k store.Key, clientID string, now time.Time) (*store.DeviceAuthorization, bool, error) {
	t := &s.device
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byKeyLocked(k, s.now())
	if e == nil {
		return nil, false, store.ErrNotFound
	}
	tooFast := false
	if e.d.Status == store.DevicePending && e.d.ClientID == clientID {
		if !e.lastPoll.IsZero() && now.Sub(e.lastPoll) < e.d.Interval-e.d.Interval/10 {
			e.d.Interval += store.SlowDownStep
			tooFast = true
		}
		e.lastPoll = now
	}
	return cloneDevice(&e.d), tooFast, nil
}

// ConsumeDeviceAuthorization implements store.DeviceCodes.
func (s *Store) ConsumeDeviceAuthorization(_ context.Context, k store.Key) error {
	t := &s.device
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byKeyLocked(k, s.now())
	switch {
	case e == nil:
		return store.ErrNotFound
	case e.d.Status == store.DeviceConsumed:
		return store.ErrConsumed
	case e.d.Status != store.DeviceApproved:
		return store.ErrNotFound
	}
	e.d.Status = store.DeviceConsumed
	return nil
}
