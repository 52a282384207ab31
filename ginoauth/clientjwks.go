package ginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
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
	mu        sync.Mutex // held during a fetch: one fetch per URI at a time
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of the last good fetch
	triedAt   time.Time // of the last attempt, good or not
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
// younger than the TTL (and, when refresh is set, while the last attempt
// is younger than the refetch interval), else freshly fetched ones. A
// failed fetch keeps the keys fetched before, if any.
func (f *jwksFetcher) keys(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	e := f.entry(uri)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := f.now()
	fresh := !e.fetchedAt.IsZero() && now.Sub(e.fetchedAt) < f.ttl
	recent := !e.triedAt.IsZero() && now.Sub(e.triedAt) < f.refetch
	if (fresh && !refresh) || recent {
		if e.keys == nil {
			return nil, errors.New("the jwks_uri could not be fetched lately")
		}
		return e.keys, nil
	}
	e.triedAt = now
	keys, err := f.fetch(ctx, uri)
	if err != nil {
		if e.keys != nil && fresh {
			return e.keys, nil
		}
		return nil, err
	}
	e.keys, e.fetchedAt = keys, now
	return keys, nil
}

// fetch GETs uri (https only) and reads a JWK Set of public keys of at
// most MaxClientMetadataSize bytes.
func (f *jwksFetcher) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("the jwks_uri is not an https URL")
	}
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
// keys (a private or symmetric key there is ignored, never used).
func parseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("the client's JWK Set: %w", err)
	}
	keys := set.Keys[:0]
	for _, k := range set.Keys {
		if k.IsPublic() && k.Valid() {
			keys = append(keys, k)
		}
	}
	set.Keys = keys
	return &set, nil
}
