package awsidentitytest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ginoauth/toolkit/ginoauth/awsidentity/awsidentitytest"
)

const body = "Action=GetCallerIdentity&Version=2011-06-15"

var (
	user = aws.Credentials{AccessKeyID: "AKIAUSER", SecretAccessKey: "user-secret"}
	role = aws.Credentials{AccessKeyID: "ASIAROLE", SecretAccessKey: "role-secret", SessionToken: "session"}
)

// signed is a GetCallerIdentity request to host, signed for region.
func signed(t *testing.T, creds aws.Credentials, host, region string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSTS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&awsidentitytest.STS{Identities: []awsidentitytest.Identity{
		{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey, ARN: "arn:aws:iam::111122223333:user/u", Account: "111122223333"},
		{AccessKeyID: role.AccessKeyID, SecretAccessKey: role.SecretAccessKey, SessionToken: role.SessionToken,
			ARN: "arn:aws-cn:sts::111122223333:assumed-role/r/s", Account: "111122223333"},
	}})
	defer srv.Close()
	client := awsidentitytest.Client(srv.URL)
	for _, tc := range []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
		want   string // in the answer: the ARN, or the error code
	}{
		{"user", func(t *testing.T) *http.Request { return signed(t, user, "sts.us-east-1.amazonaws.com", "us-east-1") }, 200, "<Arn>arn:aws:iam::111122223333:user/u</Arn>"},
		{"role in China", func(t *testing.T) *http.Request {
			return signed(t, role, "sts.cn-north-1.amazonaws.com.cn", "cn-north-1")
		}, 200, "<Arn>arn:aws-cn:sts::111122223333:assumed-role/r/s</Arn>"},
		{"wrong secret", func(t *testing.T) *http.Request {
			return signed(t, aws.Credentials{AccessKeyID: user.AccessKeyID, SecretAccessKey: "x"}, "sts.us-east-1.amazonaws.com", "us-east-1")
		}, 403, "SignatureDoesNotMatch"},
		{"unknown key", func(t *testing.T) *http.Request {
			return signed(t, aws.Credentials{AccessKeyID: "AKIANOBODY", SecretAccessKey: "x"}, "sts.us-east-1.amazonaws.com", "us-east-1")
		}, 403, "InvalidClientTokenId"},
		{"wrong session token", func(t *testing.T) *http.Request {
			c := role
			c.SessionToken = "other"
			return signed(t, c, "sts.cn-north-1.amazonaws.com.cn", "cn-north-1")
		}, 403, "InvalidClientTokenId"},
		{"scope of another region", func(t *testing.T) *http.Request { return signed(t, user, "sts.us-east-1.amazonaws.com", "us-west-2") }, 403, "SignatureDoesNotMatch"},
		{"header changed after signing", func(t *testing.T) *http.Request {
			r := signed(t, user, "sts.us-east-1.amazonaws.com", "us-east-1")
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 403, "SignatureDoesNotMatch"},
		{"another action", func(t *testing.T) *http.Request {
			r := signed(t, user, "sts.us-east-1.amazonaws.com", "us-east-1")
			other, _ := http.NewRequest(http.MethodPost, r.URL.String(), strings.NewReader("Action=AssumeRole&Version=2011-06-15"))
			other.Header = r.Header
			return other
		}, 400, "InvalidAction"},
	} {
		res, err := client.Do(tc.req(t))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s; want %d %s", tc.name, res.StatusCode, b, tc.status, tc.want)
		}
	}
}

// TestClientNeverReachesAWS: only https requests to regional STS hosts are
// routed; other AWS hosts and plain HTTP are refused.
func TestClientNeverReachesAWS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	defer srv.Close()
	client := awsidentitytest.Client(srv.URL)
	for url, want := range map[string]string{
		"https://sts.us-east-1.amazonaws.com/":     "sts.us-east-1.amazonaws.com",
		"https://sts.cn-north-1.amazonaws.com.cn/": "sts.cn-north-1.amazonaws.com.cn",
		"http://sts.us-east-1.amazonaws.com/":      "",
		"https://sts.amazonaws.com/":               "",
		"https://iam.amazonaws.com/":               "",
		"https://sts.us-east-1.amazonaws.com.cn/x": "sts.us-east-1.amazonaws.com.cn",
		srv.URL + "/": strings.TrimPrefix(srv.URL, "http://"),
	} {
		res, err := client.Get(url)
		if want == "" {
			if err == nil {
				res.Body.Close()
				t.Errorf("%s: sent, want refused", url)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != want {
			t.Errorf("%s: reached the fake with Host %q, want %q", url, b, want)
		}
	}
}
