// Package awsidentitytest runs the aws_identity grant against a fake AWS
// STS, for tests, in the manner of go-oidc's oidctest: STS is an
// http.Handler that answers GetCallerIdentity for the identities it knows,
// checking their SigV4 signatures, and Client returns the http.Client to
// give awsidentity.Config.HTTPClient so that the grant's calls to
// https://sts.<region>.amazonaws.com/ reach it:
//
//	sts := httptest.NewServer(&awsidentitytest.STS{Identities: []awsidentitytest.Identity{{
//		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret",
//		ARN: "arn:aws:iam::111122223333:user/ci", Account: "111122223333",
//	}}})
//	defer sts.Close()
//	g, err := awsidentity.New(awsidentity.Config{
//		..., HTTPClient: awsidentitytest.Client(sts.URL),
//	})
//
// The grant itself has no test hook: it always builds the real STS URL,
// and only the client given to it decides where the request goes. Nothing
// here belongs in a production binary.
package awsidentitytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Identity is an AWS identity the fake STS knows by its access key.
type Identity struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must be the request's X-Amz-Security-Token
	// (temporary credentials).
	SessionToken string
	// ARN and Account are GetCallerIdentity's answer, such as
	// "arn:aws:sts::111122223333:assumed-role/deployer/session-1" or
	// "arn:aws:iam::111122223333:user/ci/builder", and "111122223333".
	ARN     string
	Account string
}

// STS is a fake AWS STS serving GetCallerIdentity. It refuses, as STS
// does, with an XML ErrorResponse (400 or 403): another action or path, a
// request that is not signed with SigV4 for the sts service, an unknown
// access key or session token, a credential scope whose region is not the
// Host's, and a signature that does not verify. It checks the signature by
// signing the request it received again, with the AWS SDK's signer and the
// key's secret, over the headers listed in SignedHeaders. It does not check
// how old the signature is: the grant does.
type STS struct {
	Identities []Identity
	// ErrorMessage is the Message of its error answers; a fixed text when
	// empty. Tests set it to something they then look for in what the
	// grant answers, which must never repeat it.
	ErrorMessage string
}

// stsHost is a regional STS host; the first group is the region.
var stsHost = regexp.MustCompile(`^sts\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

const (
	getCallerIdentity = "Action=GetCallerIdentity&Version=2011-06-15"
	amzDateLayout     = "20060102T150405Z"
)

// ServeHTTP answers a GetCallerIdentity request.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "MalformedInput")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" ||
		(string(body) != getCallerIdentity && string(body) != "Version=2011-06-15&Action=GetCallerIdentity") {
		s.fail(w, http.StatusBadRequest, "InvalidAction")
		return
	}
	authz := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(authz, "AWS4-HMAC-SHA256 Credential=")
	if !ok {
		s.fail(w, http.StatusForbidden, "IncompleteSignature")
		return
	}
	cred, rest, _ := strings.Cut(rest, ", SignedHeaders=")
	signedHeaders, _, _ := strings.Cut(rest, ", ")
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[3] != "sts" || scope[4] != "aws4_request" {
		s.fail(w, http.StatusForbidden, "SignatureDoesNotMatch")
		return
	}
	if m := stsHost.FindStringSubmatch(r.Host); m == nil || m[1] != scope[2] {
		// STS: "Credential should be scoped to a valid region".
		s.fail(w, http.StatusForbidden, "SignatureDoesNotMatch")
		return
	}
	var who *Identity
	for i := range s.Identities {
		if s.Identities[i].AccessKeyID == scope[0] {
			who = &s.Identities[i]
		}
	}
	if who == nil || who.SessionToken != r.Header.Get("X-Amz-Security-Token") {
		s.fail(w, http.StatusForbidden, "InvalidClientTokenId")
		return
	}
	at, err := time.Parse(amzDateLayout, r.Header.Get("X-Amz-Date"))
	if err != nil {
		s.fail(w, http.StatusForbidden, "IncompleteSignature")
		return
	}
	again, err := http.NewRequest(http.MethodPost, "https://"+r.Host+"/", bytes.NewReader(body))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "MalformedInput")
		return
	}
	for _, h := range strings.Split(signedHeaders, ";") {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: who.AccessKeyID, SecretAccessKey: who.SecretAccessKey, SessionToken: who.SessionToken}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, hex.EncodeToString(sum[:]), "sts", scope[2], at); err != nil ||
		again.Header.Get("Authorization") != authz {
		s.fail(w, http.StatusForbidden, "SignatureDoesNotMatch")
		return
	}
	Answer(w, who.ARN, who.Account)
}

// Answer writes GetCallerIdentity's successful answer for arn and account.
func Answer(w http.ResponseWriter, arn, account string) {
	var a, acct strings.Builder
	_ = xml.EscapeText(&a, []byte(arn))
	_ = xml.EscapeText(&acct, []byte(account))
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>AIDAEXAMPLE</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, a.String(), acct.String())
}

func (s *STS) fail(w http.ResponseWriter, status int, code string) {
	msg := s.ErrorMessage
	if msg == "" {
		msg = "refused by the fake STS"
	}
	Fail(w, status, code, msg)
}

// Fail writes an STS ErrorResponse with status, code and message.
func Fail(w http.ResponseWriter, status int, code, message string) {
	var m strings.Builder
	_ = xml.EscapeText(&m, []byte(message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error></ErrorResponse>`, code, m.String())
}

// Client returns an http.Client, for awsidentity.Config.HTTPClient, that
// sends every request for a regional STS host
// (https://sts.<region>.amazonaws.com/ or .amazonaws.com.cn) to the
// server at baseURL, such as an httptest.Server's URL, with the Host
// header of the STS host. It refuses plain-HTTP requests to an STS host and
// requests to any other amazonaws.com host, so a test never reaches AWS,
// and sends requests to other hosts as they are.
func Client(baseURL string) *http.Client {
	target, err := url.Parse(baseURL)
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		panic(fmt.Sprintf("awsidentitytest: Client needs an http(s) base URL, not %q", baseURL))
	}
	return &http.Client{Transport: &router{target: target, next: http.DefaultTransport.(*http.Transport).Clone()}}
}

// router is Client's transport.
type router struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt *router) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	onAWS := strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn")
	switch {
	case !onAWS:
		return rt.next.RoundTrip(req)
	case req.URL.Scheme != "https" || !stsHost.MatchString(host):
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("awsidentitytest: refusing to send a request to %s://%s", req.URL.Scheme, host)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host = rt.target.Scheme, rt.target.Host
	if r.Host == "" {
		r.Host = host
	}
	return rt.next.RoundTrip(r)
}
