package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where the browser test expects Chromium (Debian's
// chromium package; .ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// TestBrowserCodeFlow signs in to the demo client with a real, headless
// Chromium: the client's page, "Sign in with ginoauth", the login form,
// "Authorize" on the consent page, and the client's result page. Without
// Chromium it is skipped, except on CI (CI=true), where it fails. The
// screenshot of the result page goes to a temporary directory, or to
// $SCREENSHOT_DIR when set.
func TestBrowserCodeFlow(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is not installed at %s (CI=true, so this fails rather than skips): "+
				"apt-get install chromium, as .ci/run does", chromiumPath)
		}
		t.Skipf("Chromium is not installed at %s: apt-get install chromium to run the browser test", chromiumPath)
	}
	t.Parallel()
	s := newWebServer(t)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	defer cancel()

	// The first action starts the browser and lives as long as ctx: no
	// timeout on it. The steps after it have one.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+clientPath)); err != nil {
		t.Fatalf("starting Chromium and opening %s: %v", clientPath, err)
	}
	steps, cancelSteps := context.WithTimeout(ctx, 90*time.Second)
	defer cancelSteps()
	err := chromedp.Do(steps,
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		// Not logged in: the authorization endpoint sent us to the login page.
		chromedp.WaitVisible(chromedp.ID("id_username")),
		chromedp.SendKeys(chromedp.ID("id_username"), s.alice.username),
		chromedp.SendKeys(chromedp.ID("id_password"), s.alice.password),
		chromedp.Click(chromedp.ID("login")),
		// Back at the authorization endpoint: the consent page.
		chromedp.WaitVisible(chromedp.ID("allow")),
		chromedp.Click(chromedp.ID("allow")),
		// The client's callback exchanged the code.
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("the sign-in did not reach the result page: %v\nat %s:\n%s", err, loc, body)
	}
	text, err := chromedp.Run(steps, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "Token exchange succeeded" {
		t.Errorf("#result says %q, want %q", text, "Token exchange succeeded")
	}
	scope, err := chromedp.Run(steps, chromedp.Text(chromedp.ID("scope")))
	if err != nil || scope != "read write" {
		t.Errorf("#scope = %q, %v; want read write", scope, err)
	}

	png, err := chromedp.Run(steps, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("SCREENSHOT_DIR"); keep != "" {
		dir = keep // to look at it after the test (CI artifacts)
	}
	shot := filepath.Join(dir, "code-flow-result.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the result page: %s (%d bytes)", shot, len(png))

	// The client's link calls /user_details/ with the token, server-side.
	err = chromedp.Do(steps,
		chromedp.Click(chromedp.ID("me")),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if err != nil {
		t.Fatalf("following the /user_details/ link: %v", err)
	}
	if name, err := chromedp.Run(steps, chromedp.Text(chromedp.ID("username"))); err != nil || name != s.alice.username {
		t.Errorf("#username = %q, %v; want %s", name, err, s.alice.username)
	}
}
