package failover_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// event is one request of the load.
type event struct {
	start, end time.Time
	issue      bool // a token request, else a protected GET
	// victim: the token's key or its application's record is on the
	// killed master (GETs only; a failed issuance names no family).
	victim bool
	status int
}

// load runs protected GETs over the tokens issued before it and token
// requests for the applications whose record is not on the victim.
type load struct {
	f      *fixture
	tokens []token
	victim string
	apps   []app

	mu     sync.Mutex
	events []event
	issued []token
}

func newLoad(f *fixture, tokens []token, victim string) *load {
	l := &load{f: f, tokens: tokens, victim: victim}
	for _, a := range f.apps {
		if a.master != victim {
			l.apps = append(l.apps, a)
		}
	}
	return l
}

// run starts getters and issuers and returns once ctx is done and every
// request has ended.
func (l *load) run(ctx context.Context, getters, issuers int) {
	var wg sync.WaitGroup
	for range getters {
		wg.Go(func() {
			for ctx.Err() == nil {
				tk := l.tokens[rand.N(len(l.tokens))]
				start := time.Now()
				code := l.f.get(context.WithoutCancel(ctx), tk.tok)
				l.record(event{start: start, end: time.Now(), victim: tk.master == l.victim || tk.appMaster == l.victim, status: code})
			}
		})
	}
	for range issuers {
		wg.Go(func() {
			for ctx.Err() == nil {
				a := l.apps[rand.N(len(l.apps))]
				start := time.Now()
				code, tok := l.f.issue(context.WithoutCancel(ctx), a)
				l.record(event{start: start, end: time.Now(), issue: true, status: code})
				if code == http.StatusOK {
					l.mu.Lock()
					l.issued = append(l.issued, token{tok: tok, appMaster: a.master, issued: start})
					l.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

func (l *load) record(e event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// lastFailure returns the start of the last request that did not answer
// 200, and whether there was one.
func (l *load) lastFailure() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, e := range l.events {
		if e.status != http.StatusOK && e.start.After(last) {
			last = e.start
		}
	}
	return last, !last.IsZero()
}

// waitQuiet returns once no request has failed for quiet, counted from
// the later of since and the last failure, or at deadline (false).
func (l *load) waitQuiet(since time.Time, quiet time.Duration, deadline time.Time) bool {
	for time.Now().Before(deadline) {
		from := since
		if last, ok := l.lastFailure(); ok && last.After(from) {
			from = last
		}
		if time.Since(from) >= quiet {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// tally counts the requests of the load around kill.
type tally struct {
	requests, beforeKillFailed, healthyFailed, server500, transport int
	victimFailed, issueFailed                                       int
	// after the kill: the first failure, the start of the last failed
	// GET and token request, and the end of the last failure.
	firstFail, lastGetFail, lastIssueFail, lastFailEnd time.Duration
	issueLatencies                                     []time.Duration
}

func (l *load) tally(kill time.Time) tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t tally
	t.firstFail = -1
	for _, e := range l.events {
		t.requests++
		if e.issue && e.status == http.StatusOK && e.end.Before(kill) {
			t.issueLatencies = append(t.issueLatencies, e.end.Sub(e.start))
		}
		if e.status == http.StatusOK {
			continue
		}
		switch {
		case e.status == 0:
			t.transport++
		case e.status >= 500 && e.status != http.StatusServiceUnavailable:
			t.server500++
		}
		switch {
		case e.end.Before(kill): // one under way at the kill is its victim
			t.beforeKillFailed++
		case e.issue:
			t.issueFailed++
		case e.victim:
			t.victimFailed++
		default:
			t.healthyFailed++
		}
		d := e.start.Sub(kill)
		if t.firstFail < 0 || d < t.firstFail {
			t.firstFail = d
		}
		if e.issue {
			t.lastIssueFail = max(t.lastIssueFail, d)
		} else {
			t.lastGetFail = max(t.lastGetFail, d)
		}
		t.lastFailEnd = max(t.lastFailEnd, e.end.Sub(kill))
	}
	slices.Sort(t.issueLatencies)
	return t
}

// quantile returns the q-quantile of sorted ds, 0 if empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(q*float64(len(ds)-1))]
}
