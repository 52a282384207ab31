package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// rate is a throttle rate as DRF writes it: N requests per period.
type rate struct {
	N   int
	Per time.Duration
}

// defaultSnippetWrites per defaultSnippetWritePeriod is how many snippet
// writes one user may make unless serve's --snippet-write-rate says
// otherwise: far more than a person needs, few enough (with the 64 KiB
// code limit) that one user adds at most some 6 MB an hour.
const (
	defaultSnippetWrites      = 100
	defaultSnippetWritePeriod = time.Hour
	defaultSnippetWriteRate   = "100/hour"
)

// ratePeriod is the period DRF names by its first letter: s, m, h or d.
func ratePeriod(letter byte) (time.Duration, bool) {
	switch letter {
	case 's':
		return time.Second, true
	case 'm':
		return time.Minute, true
	case 'h':
		return time.Hour, true
	case 'd':
		return 24 * time.Hour, true
	}
	return 0, false
}

// parseRate reads a rate as DRF's SimpleRateThrottle does: "N/period",
// where the period's first letter says which (s, m, h or d: "100/hour",
// "5/m"); "0" is no limit.
func parseRate(v string) (rate, error) {
	if v == "0" {
		return rate{N: -1}, nil
	}
	num, period, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(num)
	if ok && err == nil && n > 0 && period != "" {
		if d, ok := ratePeriod(period[0]); ok {
			return rate{N: n, Per: d}, nil
		}
	}
	return rate{}, fmt.Errorf("%q: want N/period, such as 100/hour (period: second, minute, hour or day), or 0 for no limit", v)
}

// allowWrite counts a snippet write against the request's user's
// writeRate, as DRF's UserRateThrottle, in the store (so the count holds
// across instances sharing Redis). Over the rate it answers 429 with
// Retry-After and DRF's message; a store outage is 503.
func (a *app) allowWrite(c *gin.Context) bool {
	id, _ := requestUser(c)
	if a.writeRate.N <= 0 || id == "" {
		return true // no limit; a write with no user is refused next
	}
	ok, retry, err := a.provider.Store().Allow(c.Request.Context(), "demo_snippet_write:"+id, a.writeRate.N, a.writeRate.Per)
	if err != nil {
		a.storeError(c, err)
		return false
	}
	if ok {
		return true
	}
	secs := max(1, int((retry+time.Second-1)/time.Second))
	c.Header("Retry-After", strconv.Itoa(secs))
	writeError(c, http.StatusTooManyRequests, "throttled",
		fmt.Sprintf("Request was throttled. Expected available in %d second%s.", secs, plural(secs)), nil)
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
