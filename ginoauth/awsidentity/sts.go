package awsidentity

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// maxSTSResponse bounds the STS answer read.
const maxSTSResponse = 64 << 10

// identity is the caller STS vouched for.
type identity struct {
	arn, account, userID string
	// principal is the ARN mappings match: the user ARN, or for an
	// assumed role arn:PARTITION:iam::ACCOUNT:role/NAME.
	principal string
}

// getCallerIdentityResponse is STS's XML answer.
type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
}

// unavailable is the answer when STS cannot tell: 503, wrapping
// store.ErrUnavailable. cause is for logs and never holds upstream content.
func unavailable(cause error) error {
	return oautherr.ErrTemporarilyUnavailable.
		WithDescription("AWS STS could not verify the identity; try again later.").
		WithCause(fmt.Errorf("awsidentity: %w: %w", store.ErrUnavailable, cause))
}

// callerIdentity forwards the checked request to STS and returns who signed
// it.
func (g *grant) callerIdentity(ctx context.Context, sr *signedRequest) (*identity, error) {
	url := "https://" + sr.host + "/"
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(sr.body))
	if err != nil {
		return nil, unavailable(err)
	}
	req.Host = sr.host
	for k, v := range sr.header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	req.Header.Set("User-Agent", "ginoauth-awsidentity")
	res, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, unavailable(errors.New("STS did not answer in time"))
		}
		return nil, unavailable(fmt.Errorf("STS request failed: %w", err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxSTSResponse+1))
	if err != nil {
		return nil, unavailable(errors.New("reading the STS answer failed"))
	}
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusBadRequest, res.StatusCode == http.StatusUnauthorized, res.StatusCode == http.StatusForbidden:
		// SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken, ...:
		// the client's request, not an outage.
		return nil, invalidGrant("AWS STS refused the signed request (HTTP %d).", res.StatusCode)
	default:
		return nil, unavailable(fmt.Errorf("STS answered HTTP %d", res.StatusCode))
	}
	if len(body) > maxSTSResponse {
		return nil, unavailable(errors.New("the STS answer is too large"))
	}
	var out getCallerIdentityResponse
	if err := xml.Unmarshal(body, &out); err != nil {
		return nil, unavailable(errors.New("the STS answer is not a GetCallerIdentityResponse"))
	}
	id, err := parseIdentity(out.Result.Arn, out.Result.Account, partition(sr.region))
	if err != nil {
		return nil, unavailable(fmt.Errorf("the STS answer: %w", err))
	}
	id.userID = out.Result.UserID
	return id, nil
}

// parseIdentity checks an ARN STS answered with and finds its principal:
// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION or
// arn:PARTITION:iam::ACCOUNT:user/[PATH/]NAME. Any other kind of identity
// (root, federated user) is an error.
func parseIdentity(arn, account, wantPartition string) (*identity, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] != "" {
		return nil, errors.New("malformed ARN")
	}
	if parts[1] != wantPartition {
		return nil, errors.New("ARN of another partition")
	}
	if !validAccount(parts[4]) || parts[4] != account {
		return nil, errors.New("ARN and Account disagree")
	}
	res := parts[5]
	for i := 0; i < len(res); i++ {
		c := res[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+=,.@_-/", c) >= 0) {
			return nil, errors.New("ARN resource holds an unexpected character")
		}
	}
	id := &identity{arn: arn, account: account}
	prefix := "arn:" + parts[1] + ":iam::" + account + ":"
	switch {
	case parts[2] == "sts" && strings.HasPrefix(res, "assumed-role/"):
		seg := strings.Split(res, "/")
		if len(seg) != 3 || seg[1] == "" || seg[2] == "" {
			return nil, errors.New("malformed assumed-role ARN")
		}
		id.principal = prefix + "role/" + seg[1]
	case parts[2] == "iam" && strings.HasPrefix(res, "user/"):
		if strings.HasSuffix(res, "/") || strings.Contains(res, "//") {
			return nil, errors.New("malformed user ARN")
		}
		id.principal = arn
	default:
		return nil, errors.New("neither an IAM user nor an assumed role")
	}
	return id, nil
}

// validAccount reports whether s is a 12-digit account ID.
func validAccount(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// check validates a Mapping.
func (m *Mapping) check() error {
	if m.Account == "" && m.ARN == "" {
		return errors.New("set Account, ARN or both")
	}
	if m.Account != "" && !validAccount(m.Account) {
		return errors.New("Account must be a 12-digit account ID")
	}
	if m.ARN != "" {
		if err := checkARNPattern(m.ARN); err != nil {
			return err
		}
		if m.Account != "" && strings.Split(m.ARN, ":")[4] != m.Account {
			return errors.New("the ARN pattern names another account than Account")
		}
	}
	if m.Username == "" {
		return errors.New("Username is required")
	}
	if len(m.Scopes) == 0 {
		return errors.New("Scopes is required")
	}
	return nil
}

// checkARNPattern validates a mapping's ARN pattern: everything up to the
// resource is literal, as in a principal ARN (arn:PARTITION:iam::ACCOUNT:),
// so that a wildcard can widen a pattern only within one account.
func checkARNPattern(p string) error {
	parts := strings.Split(p, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return errors.New("ARN must be a principal ARN pattern, arn:aws:iam::ACCOUNT:role/NAME or user/NAME")
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return fmt.Errorf("the ARN pattern's partition must be aws, aws-cn or aws-us-gov, not %q", parts[1])
	}
	if parts[2] == "sts" {
		return errors.New("the ARN pattern must name the role (arn:aws:iam::ACCOUNT:role/NAME), not the assumed-role session (arn:aws:sts::...)")
	}
	if parts[2] != "iam" || parts[3] != "" {
		return errors.New("the ARN pattern must be an IAM principal, arn:PARTITION:iam::ACCOUNT:...")
	}
	if strings.Contains(parts[4], "*") {
		return errors.New("the ARN pattern's account must be a 12-digit account ID, not a wildcard: a mapping never matches more than one account")
	}
	if !validAccount(parts[4]) {
		return errors.New("the ARN pattern's account must be a 12-digit account ID")
	}
	return nil
}

// match returns the first mapping that matches id, or nil.
func (g *grant) match(id *identity) *Mapping {
	for i := range g.cfg.Mappings {
		m := &g.cfg.Mappings[i]
		if m.Account != "" && m.Account != id.account {
			continue
		}
		if m.ARN != "" && !matchARN(m.ARN, id.principal) {
			continue
		}
		return m
	}
	return nil
}

// matchARN matches an ARN against a pattern in which '*' stands for any
// run of characters other than ':'.
func matchARN(pattern, arn string) bool {
	ps, as := strings.Split(pattern, ":"), strings.Split(arn, ":")
	if len(ps) != len(as) {
		return false
	}
	for i := range ps {
		if !glob(ps[i], as[i]) {
			return false
		}
	}
	return true
}

// glob matches s against a pattern whose only wildcard is '*'.
func glob(p, s string) bool {
	px, sx, starP, starS := 0, 0, -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case px < len(p) && p[px] == s[sx]:
			px++
			sx++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}
