package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestDeviceFlow drives the device authorization grant against the demo:
// x/oauth2's DeviceAuth, the verification page behind the demo's login
// with the consent page, a poll answered with tokens, the API with them,
// and a poll after success answered invalid_grant.
func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	ctx := context.Background()
	app, _, err := s.provider.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "Kitchen TV", ClientType: store.Public, GrantTypes: []string{store.GrantDeviceCode},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: app.ClientID, Scopes: []string{"read"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: s.url + "/o/device_authorization/", TokenURL: s.url + tokenPath, AuthStyle: oauth2.AuthStyleInParams,
	}}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != s.url+"/o/device/" || da.Interval != 5 {
		t.Fatalf("device authorization: %+v", da)
	}
	poll := url.Values{"grant_type": {store.GrantDeviceCode}, "client_id": {app.ClientID}, "device_code": {da.DeviceCode}}
	s.tokenForm("", poll).wantError(t, http.StatusBadRequest, "authorization_pending")

	b := s.browser(t)
	toLogin := b.get(da.VerificationURIComplete).wantRedirect(t, b, loginPath+"?next=")
	next, _ := url.Parse(toLogin.location)
	back := b.login(s.alice, next.Query().Get("next")).wantStatus(t, http.StatusFound)
	entry := b.get(back.location).wantStatus(t, http.StatusOK)
	form := entry.hidden(t)
	form.Set("user_code", da.UserCode)
	consent := b.post("/o/device/", form).wantStatus(t, http.StatusOK)
	if !strings.Contains(consent.body, "Authorize Kitchen TV") {
		t.Fatalf("not the consent page:\n%s", consent.body)
	}
	form = consent.hidden(t)
	form.Set("allow", "Authorize")
	done := b.post("/o/device/", form).wantStatus(t, http.StatusOK)
	if done.byID("done") != "Device connected" {
		t.Fatalf("decision page:\n%s", done.body)
	}
	tok := s.tokenForm("", poll).wantTokens(t)
	s.api(http.MethodGet, snippetsPath, tok.access, "").wantStatus(t, http.StatusOK)
	s.tokenForm("", poll).wantError(t, http.StatusBadRequest, "invalid_grant")
}

// TestCreateApplicationDeviceCode: createapplication takes device-code.
func TestCreateApplicationDeviceCode(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "createapplication", "--json", "--name", "tv", "public", "device-code")
	if r.code != 0 {
		t.Fatalf("exit code %d, stderr %s", r.code, r.stderr)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &creds); err != nil || creds["client_id"] == "" {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	r = runCmd(t, nil, "createapplication", "public", "device")
	if r.code == 0 || !strings.Contains(r.stderr, "device-code") {
		t.Errorf("unknown grant device: code %d, stderr %q", r.code, r.stderr)
	}
}
