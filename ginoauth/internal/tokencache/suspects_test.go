package tokencache

import (
	"fmt"
	"testing"
	"time"
)

// TestTrusted: a token is trusted only while the cache is live, when it
// was issued after the channel went live, and after the last invalidation
// of its family and of its client (beyond TrustSkew); invalidations are
// forgotten past the horizon, and an overflow makes everything older
// suspect rather than forgetting it.
func TestTrusted(t *testing.T) {
	c, clk := newLive(t, Options{MaxEntries: 64, MaxAge: 2 * time.Hour})
	start := clk.now()
	if c.Trusted("f1", "c1", start) {
		t.Error("a token issued as the channel went live: trusted, want suspect")
	}
	clk.advance(TrustSkew + time.Second)
	iat := clk.now()
	if !c.Trusted("f1", "c1", iat) {
		t.Error("a token issued after the channel went live: suspect, want trusted")
	}
	clk.advance(time.Second)
	c.DropFamily("f1")
	if c.Trusted("f1", "c1", iat) {
		t.Error("after its family's invalidation: trusted, want suspect")
	}
	if !c.Trusted("f2", "c1", iat) {
		t.Error("another family: suspect, want trusted")
	}
	if c.Trusted("f1", "c1", clk.now()) {
		t.Error("issued within TrustSkew of its family's invalidation: trusted, want suspect")
	}
	clk.advance(TrustSkew + time.Second)
	if !c.Trusted("f1", "c1", clk.now()) {
		t.Error("issued well after its family's invalidation: suspect, want trusted")
	}
	clk.advance(-time.Hour) // a clock stepped back: the mark must not move back
	c.DropFamily("f1")
	clk.advance(time.Hour)
	if !c.Trusted("f1", "c1", clk.now()) || c.Trusted("f1", "c1", clk.now().Add(-TrustSkew-time.Second)) {
		t.Error("after a clock step back: want the family's mark kept at its latest")
	}
	c.DropClient("c1")
	if c.Trusted("f2", "c1", iat) || !c.Trusted("f2", "c2", iat) {
		t.Error("after a client's invalidation: want its tokens suspect, another client's trusted")
	}

	// Only tokens issued within MaxAge, and not in the future, are trusted.
	if c.Trusted("f9", "c9", clk.now().Add(-2*time.Hour-time.Second)) {
		t.Error("a token older than MaxAge: trusted, want suspect (its record is read again)")
	}
	if c.Trusted("f9", "c9", clk.now().Add(TrustSkew+time.Second)) {
		t.Error("a token issued in the future: trusted, want suspect")
	}

	// The horizon: an invalidation older than MaxAge concerns no token
	// that may still be trusted.
	clk.advance(2*time.Hour + TrustSkew + time.Second)
	c.DropFamily("other")
	if got := c.sus.len(); got != 1 {
		t.Errorf("remembered after the horizon: got %d, want 1", got)
	}

	// Overflow: the oldest are forgotten and the floor rises past them.
	clk.advance(TrustSkew + time.Second)
	old := clk.now()
	clk.advance(TrustSkew + time.Second)
	for i := range 100 {
		c.DropFamily(fmt.Sprint("g", i))
		clk.advance(time.Millisecond)
	}
	if got := c.sus.len(); got > 64 {
		t.Errorf("remembered: got %d, want at most MaxEntries (64)", got)
	}
	if c.Trusted("g0", "c9", old) {
		t.Error("a token older than a forgotten invalidation: trusted, want suspect")
	}

	// Bypass: nothing is trusted.
	c.SetLive(false)
	if c.Trusted("f9", "c9", clk.now().Add(time.Minute)) {
		t.Error("channel lost: trusted, want suspect")
	}
}

// TestSuspectsStartAtFirstTrusted: until the first Trusted call the list
// records no invalidation (an instance without JWT access tokens keeps
// none), and that call makes every token issued before it suspect, those
// an unrecorded invalidation may have concerned among them; from then on
// invalidations are recorded.
func TestSuspectsStartAtFirstTrusted(t *testing.T) {
	c, clk := newLive(t, Options{MaxEntries: 64, MaxAge: time.Hour})
	before := clk.now()
	for i := range 10 {
		c.DropFamily(fmt.Sprint("f", i))
	}
	c.DropClient("c1")
	if got := c.sus.len(); got != 0 {
		t.Fatalf("invalidations remembered before any Trusted call: %d, want 0", got)
	}
	clk.advance(TrustSkew + time.Second)
	if c.Trusted("f0", "c2", before) {
		t.Error("first Trusted call: trusted, want suspect")
	}
	if c.Trusted("f0", "c1", before) || c.Trusted("f5", "c2", before) {
		t.Error("a token issued before the first Trusted call: trusted, want suspect")
	}
	clk.advance(TrustSkew + time.Second)
	iat := clk.now()
	if !c.Trusted("f0", "c1", iat) {
		t.Error("a token issued after the first Trusted call: suspect, want trusted")
	}
	clk.advance(time.Second)
	c.DropFamily("f0")
	if got := c.sus.len(); got != 1 {
		t.Errorf("invalidations remembered after the first Trusted call: %d, want 1", got)
	}
	if c.Trusted("f0", "c1", iat) {
		t.Error("after its family's invalidation: trusted, want suspect")
	}
}
