package awsidentity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxHeadersJSON bounds the headers_json parameter, in bytes. A signed
// GetCallerIdentity request needs well under 4 KiB, session token included.
const MaxHeadersJSON = 16 << 10

const (
	maxHeaders     = 64 // distinct header names in headers_json
	maxValues      = 16 // values of one header
	postBody       = "Action=GetCallerIdentity&Version=2011-06-15"
	amzDateLayout  = "20060102T150405Z"
	sigV4Algorithm = "AWS4-HMAC-SHA256"
)

// regionPattern is an AWS region name: two letters, an optional "-gov", a
// direction and a digit ("us-east-1", "us-gov-west-1", "cn-north-1").
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)

// ValidRegion reports whether region is a well-formed AWS region name, the
// only thing the STS host is ever built from: lower-case ASCII letters and
// one digit in the shape "us-east-1" or "us-gov-west-1", at most 32 bytes.
// Dots, slashes, '@', ports, upper case, white space and non-ASCII runes
// are all refused.
func ValidRegion(region string) bool {
	return len(region) <= 32 && regionPattern.MatchString(region)
}

// stsHost is the regional STS host for a valid region.
func stsHost(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "sts." + region + ".amazonaws.com.cn"
	}
	return "sts." + region + ".amazonaws.com"
}

// partition is the ARN partition of a valid region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// validPostBody reports whether body is exactly a GetCallerIdentity call:
// the two parameters Action=GetCallerIdentity and Version=2011-06-15, in
// either order, each once, not percent-encoded, and nothing else.
func validPostBody(body string) bool {
	parts := strings.Split(body, "&")
	if len(parts) != 2 {
		return false
	}
	slices.Sort(parts)
	return parts[0] == "Action=GetCallerIdentity" && parts[1] == "Version=2011-06-15"
}

// ParseHeadersJSON parses the headers_json parameter: a JSON object whose
// members are header names, each with a string value or a non-empty list
// of strings (as the AWS CLI and boto3 print them). Names are
// canonicalised (http.CanonicalHeaderKey); a name given twice, in any
// case, is an error, as are more than MaxHeadersJSON bytes, more than 64
// names or 16 values for one name, names that are not HTTP tokens, values
// with control characters or non-ASCII bytes, and anything after the
// object. The error text never repeats a header value.
func ParseHeadersJSON(raw string) (http.Header, error) {
	if len(raw) > MaxHeadersJSON {
		return nil, fmt.Errorf("headers_json is larger than %d bytes", MaxHeadersJSON)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("headers_json is not a JSON object")
	}
	h := http.Header{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("headers_json is not valid JSON")
		}
		name, _ := t.(string)
		if !validHeaderName(name) {
			return nil, errors.New("headers_json holds an invalid header name")
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := h[key]; dup {
			return nil, fmt.Errorf("headers_json names header '%s' twice", key)
		}
		if len(h) >= maxHeaders {
			return nil, fmt.Errorf("headers_json holds more than %d headers", maxHeaders)
		}
		values, err := headerValues(dec)
		if err != nil {
			return nil, fmt.Errorf("header '%s': %w", key, err)
		}
		h[key] = values
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("headers_json is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("headers_json holds more than one JSON value")
	}
	return h, nil
}

// headerValues reads one member value: a string or a list of strings.
func headerValues(dec *json.Decoder) ([]string, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, errors.New("invalid JSON")
	}
	if s, ok := t.(string); ok {
		if !validHeaderValue(s) {
			return nil, errors.New("invalid value")
		}
		return []string{s}, nil
	}
	if t != json.Delim('[') {
		return nil, errors.New("the value must be a string or a list of strings")
	}
	var out []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		s, ok := t.(string)
		if !ok {
			return nil, errors.New("the value must be a string or a list of strings")
		}
		if !validHeaderValue(s) {
			return nil, errors.New("invalid value")
		}
		if len(out) >= maxValues {
			return nil, fmt.Errorf("more than %d values", maxValues)
		}
		out = append(out, s)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, errors.New("invalid JSON")
	}
	if len(out) == 0 {
		return nil, errors.New("an empty list")
	}
	return out, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue allows visible ASCII, spaces and tabs only.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// hopByHop are the headers a proxy must not forward (RFC 9110 7.6.1), and
// those the transport sets itself.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"proxy-authenticate": true, "proxy-authorization": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true,
}

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	date, region, service string
	signedHeaders         []string
	signature             string // 64 lower-case hex digits
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b;c, Signature=HEX".
func parseAuthorization(v string) (*sigV4Auth, error) {
	rest, ok := strings.CutPrefix(v, sigV4Algorithm+" ")
	if !ok {
		return nil, errors.New("the Authorization header is not " + sigV4Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || val == "" {
			return nil, errors.New("the Authorization header is malformed")
		}
		if _, dup := fields[k]; dup {
			return nil, errors.New("the Authorization header is malformed")
		}
		fields[k] = val
	}
	cred, signed, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if len(fields) != 3 || cred == "" || signed == "" || sig == "" {
		return nil, errors.New("the Authorization header is malformed")
	}
	if len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return nil, errors.New("the Authorization header's signature is malformed")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return nil, errors.New("the credential scope is malformed")
	}
	a := &sigV4Auth{date: scope[1], region: scope[2], service: scope[3], signature: sig}
	a.signedHeaders = strings.Split(signed, ";")
	for i, h := range a.signedHeaders {
		if !validHeaderName(h) || h != strings.ToLower(h) || (i > 0 && h <= a.signedHeaders[i-1]) {
			return nil, errors.New("SignedHeaders must be sorted, unique, lower-case header names")
		}
	}
	return a, nil
}

// signedRequest is a client's request, checked and ready to forward.
type signedRequest struct {
	region    string
	host      string
	body      string      // post_body, forwarded byte for byte: it is signed
	header    http.Header // what is forwarded: Authorization and the signed headers
	signature string      // the SigV4 signature, for the replay check
	signedAt  time.Time   // X-Amz-Date
}

// checkRequest validates the grant's parameters, before any network call:
// the parameters themselves, then the signed request's Host, Authorization
// and X-Amz-Date headers, then the server ID and client ID headers, then
// the headers to forward. Errors are *oautherr.Error values.
func (g *grant) checkRequest(params map[string]string, clientID string, now time.Time) (*signedRequest, error) {
	region, body, h, err := g.checkParams(params)
	if err != nil {
		return nil, err
	}
	host := stsHost(region)
	if err := checkHost(h, host); err != nil {
		return nil, err
	}
	authz, auth, err := checkAuthorization(h, region)
	if err != nil {
		return nil, err
	}
	signedAt, err := g.checkDate(h, auth, now)
	if err != nil {
		return nil, err
	}
	if err := g.checkServerID(h, auth); err != nil {
		return nil, err
	}
	if err := g.checkClientID(h, auth, clientID); err != nil {
		return nil, err
	}
	out, err := forwardedHeaders(h, auth, authz, body)
	if err != nil {
		return nil, err
	}
	return &signedRequest{region: region, host: host, body: body, header: out, signature: auth.signature, signedAt: signedAt}, nil
}

// checkParams checks the region, post_body and headers_json parameters and
// returns the region, the body and the parsed headers.
func (g *grant) checkParams(params map[string]string) (region, body string, h http.Header, err error) {
	region, body, rawHeaders := params["region"], params["post_body"], params["headers_json"]
	if region == "" || body == "" || rawHeaders == "" {
		return "", "", nil, invalidRequest("The aws_identity grant needs region, post_body and headers_json.")
	}
	if !ValidRegion(region) {
		return "", "", nil, invalidRequest("The region parameter is not a valid AWS region name.")
	}
	if len(g.regions) > 0 && !g.regions[region] {
		return "", "", nil, invalidGrant("The region '%s' is not allowed.", region)
	}
	if !validPostBody(body) {
		return "", "", nil, invalidGrant("post_body must be exactly '%s'.", postBody)
	}
	h, err = ParseHeadersJSON(rawHeaders)
	if err != nil {
		return "", "", nil, invalidRequest("headers_json: %s.", err)
	}
	return region, body, h, nil
}

// singleHeader is the one value of the header name in h; none, or more
// than one, is an invalid_grant error.
func singleHeader(h http.Header, name string) (string, error) {
	v := h.Values(name)
	if len(v) == 0 {
		return "", invalidGrant("The signed request has no %s header.", name)
	}
	if len(v) > 1 {
		return "", invalidGrant("The signed request has more than one %s header.", name)
	}
	return v[0], nil
}

// checkHost checks that the signed request is addressed to host, the
// region's STS host.
func checkHost(h http.Header, host string) error {
	got, err := singleHeader(h, "Host")
	if err != nil {
		return err
	}
	if got != host {
		return invalidGrant("The signed request's Host header must be '%s'.", host)
	}
	return nil
}

// checkAuthorization parses the SigV4 Authorization header and checks that
// it signs for STS in region. It returns the header's value and its parts.
func checkAuthorization(h http.Header, region string) (string, *sigV4Auth, error) {
	authz, err := singleHeader(h, "Authorization")
	if err != nil {
		return "", nil, err
	}
	auth, err := parseAuthorization(authz)
	if err != nil {
		return "", nil, invalidGrant("%s.", capitalise(err.Error()))
	}
	if auth.service != "sts" {
		return "", nil, invalidGrant("The request is signed for service '%s', not sts.", auth.service)
	}
	if auth.region != region {
		return "", nil, invalidGrant("The request is signed for region '%s', not '%s'.", auth.region, region)
	}
	return authz, auth, nil
}

// checkDate checks X-Amz-Date: well formed, the day of the credential
// scope, at most MaxClockSkew old and at most MaxFutureSkew ahead of now.
// It returns the signing time.
func (g *grant) checkDate(h http.Header, auth *sigV4Auth, now time.Time) (time.Time, error) {
	amzDate, err := singleHeader(h, "X-Amz-Date")
	if err != nil {
		return time.Time{}, err
	}
	signedAt, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return time.Time{}, invalidGrant("The X-Amz-Date header is malformed.")
	}
	if auth.date != amzDate[:8] {
		return time.Time{}, invalidGrant("The credential scope's date does not match X-Amz-Date.")
	}
	if now.Sub(signedAt) > g.skew {
		return time.Time{}, invalidGrant("The request was signed too long ago; sign a new one.")
	}
	if signedAt.Sub(now) > g.future {
		return time.Time{}, invalidGrant("The request is dated in the future; check the client's clock and sign a new one.")
	}
	return signedAt, nil
}

// checkServerID checks that the server ID header names this server, and
// that it, Host and X-Amz-Date are all signed.
func (g *grant) checkServerID(h http.Header, auth *sigV4Auth) error {
	serverID, err := singleHeader(h, g.cfg.ServerIDHeader)
	if err != nil {
		return err
	}
	if serverID != g.cfg.ServerID {
		return invalidGrant("The %s header does not name this server.", g.cfg.ServerIDHeader)
	}
	signed := map[string]bool{}
	for _, name := range auth.signedHeaders {
		signed[name] = true
	}
	for _, name := range []string{"host", "x-amz-date", g.serverIDLower} {
		if !signed[name] {
			return invalidGrant("The %s header must be signed (listed in SignedHeaders).", name)
		}
	}
	return nil
}

// checkClientID checks, when Config.ClientIDHeader is set, that the signed
// request names the authenticating client in that header, inside the
// signature, so that a signed request made for one client cannot be used
// by another.
func (g *grant) checkClientID(h http.Header, auth *sigV4Auth, clientID string) error {
	if g.cfg.ClientIDHeader == "" {
		return nil
	}
	got, err := singleHeader(h, g.cfg.ClientIDHeader)
	if err != nil {
		return err
	}
	if !slices.Contains(auth.signedHeaders, g.clientIDLower) {
		return invalidGrant("The %s header must be signed (listed in SignedHeaders).", g.cfg.ClientIDHeader)
	}
	if got != clientID {
		return invalidGrant("The %s header does not name this client.", g.cfg.ClientIDHeader)
	}
	return nil
}

// forwardedHeaders is what is sent to STS: Authorization and each signed
// header but Host and Content-Length, which the transport sets (a signed
// Content-Length must match body). A signed hop-by-hop header, or one
// missing from h, is an error.
func forwardedHeaders(h http.Header, auth *sigV4Auth, authz, body string) (http.Header, error) {
	out := http.Header{"Authorization": {authz}}
	for _, name := range auth.signedHeaders {
		switch {
		case name == "host":
			continue
		case name == "content-length":
			// Signed from the body's length: the transport sends it.
			if v := h.Values("Content-Length"); len(v) > 0 && (len(v) != 1 || v[0] != fmt.Sprint(len(body))) {
				return nil, invalidGrant("The signed Content-Length does not match post_body.")
			}
			continue
		case hopByHop[name]:
			return nil, invalidGrant("The hop-by-hop header '%s' cannot be signed.", name)
		}
		v := h.Values(name)
		if len(v) == 0 {
			return nil, invalidGrant("The signed header '%s' is missing from headers_json.", name)
		}
		out[http.CanonicalHeaderKey(name)] = v
	}
	return out, nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
