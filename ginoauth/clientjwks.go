package ginoauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/internal/jwks"
)

// maxCachedJWKS bounds the jwks_uri documents a Provider keeps.
const maxCachedJWKS = 1024

// jwksFetcher fetches and caches clients' jwks_uri documents (OpenID
// Connect Dynamic Client Registration section 2), per URI, in process.
// A URI is fetched at most once per refetch interval, whatever the
// requests ask: an attacker sending assertions with unknown kids cannot
// make the server hammer it.
type jwksFetcher struct {
	client  *http.Client
	ttl     time.Duration
	refetch time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	mu          sync.Mutex // held during a fetch: one fetch per URI at a time
	keys        []jose.JSONWebKey
	fetchedAt   time.Time // of the last good fetch
	refetchedAt time.Time // of the last fetch asked for by refresh
	failedAt    time.Time // of the last failed fetch
}

func newJWKSFetcher(cfg ClientAssertionConfig) *jwksFetcher {
	return &jwksFetcher{
		client: cfg.HTTPClient, ttl: cfg.JWKSCacheTTL, refetch: cfg.JWKSRefetchInterval,
		now: time.Now, entries: map[string]*jwksEntry{},
	}
}

func (f *jwksFetcher) entry(uri string) *jwksEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[uri]
	if e == nil {
		if len(f.entries) >= maxCachedJWKS {
			for k := range f.entries { // drop any one
				delete(f.entries, k)
				break
			}
		}
		e = &jwksEntry{}
		f.entries[uri] = e
	}
	return e
}

// keys returns the keys published at uri: the cached ones while they are
// younger than the TTL, else freshly fetched ones. With refresh (the
// assertion's key was not among them) it fetches them again unless it did
// so, or a fetch failed, less than the refetch interval ago; a failing URI
// is not fetched again within that interval either. So an assertion, good
// or bad, costs at most one fetch per URI per interval and one per TTL.
func (f *jwksFetcher) keys(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	e := f.entry(uri)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := f.now()
	recent := func(t time.Time) bool { return !t.IsZero() && now.Sub(t) < f.refetch }
	fresh := !e.fetchedAt.IsZero() && now.Sub(e.fetchedAt) < f.ttl
	switch {
	case !refresh && fresh:
		return e.keys, nil
	case recent(e.failedAt) || (refresh && recent(e.refetchedAt)):
		if !fresh {
			return nil, errors.New("the jwks_uri was fetched, or failed, too recently")
		}
		return e.keys, nil
	}
	if refresh {
		e.refetchedAt = now
	}
	keys, err := f.fetch(ctx, uri)
	if err != nil {
		e.failedAt = now
		return nil, err
	}
	e.keys, e.fetchedAt = keys, now
	return keys, nil
}

// fetch GETs uri (https only, within DefaultJWKSFetchTimeout) and reads a
// JWK Set of public keys of at most MaxClientMetadataSize bytes.
func (f *jwksFetcher) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("the jwks_uri is not an https URL")
	}
	// The fetch serves every request waiting for this URI: a client that
	// hangs up must not make it fail (and hold the URI back for the
	// refetch interval). It is bounded whatever the injected client.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultJWKSFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the jwks_uri answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxClientMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the jwks_uri: %w", err)
	}
	if len(body) > MaxClientMetadataSize {
		return nil, errors.New("the jwks_uri document is too large")
	}
	set, err := parseClientJWKS(body)
	if err != nil {
		return nil, err
	}
	return set.Keys, nil
}

// parseClientJWKS reads a client's JWK Set, keeping only its valid public
// keys (a private or symmetric key there is ignored, never used, and a
// key that cannot be read is skipped, RFC 7517 section 5).
func parseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	all, _, err := jwks.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the client's JWK Set: %w", err)
	}
	keys := all[:0]
	for _, k := range all {
		if k.IsPublic() && k.Valid() {
			keys = append(keys, k)
		}
	}
	return &jose.JSONWebKeySet{Keys: keys}, nil
}
