package awsidentity_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/awsidentity"
)

func TestValidRegion(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "il-central-1"} {
		if !awsidentity.ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = false", r)
		}
	}
	for _, r := range []string{"", "us-east-1.evil.com", "us-east-1/../", "US-EAST-1", "us-East-1", "us-east-1:443",
		"evil", "us-\u0435ast-1", "us-east-1\n", " us-east-1", "us-east-12", "us--1", "evil.com@us-east-1",
		"us-east-1%2e", "us-east-1#", "us-east-1?", "usa-east-1", "us_east_1"} {
		if awsidentity.ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = true", r)
		}
	}
}

// FuzzValidRegion: whatever ValidRegion accepts builds a URL whose host is
// exactly an amazonaws.com STS host, with no path, port or userinfo.
func FuzzValidRegion(f *testing.F) {
	for _, s := range []string{"us-east-1", "us-gov-west-1", "us-east-1.evil.com", "us-east-1/../", "US-EAST-1", "us-east-1:443", "evil", "us-\u0435ast-1", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, region string) {
		if !awsidentity.ValidRegion(region) {
			return
		}
		host := "sts." + region + ".amazonaws.com"
		u, err := url.Parse("https://" + host + "/")
		if err != nil || u.Host != host || u.Hostname() != host || u.Port() != "" || u.User != nil || u.Path != "/" {
			t.Fatalf("region %q builds %v (%v)", region, u, err)
		}
		if strings.Count(region, ".") != 0 || region != strings.ToLower(region) || len(region) > 32 {
			t.Fatalf("region %q accepted", region)
		}
	})
}

// FuzzParseHeadersJSON: the parser never panics, and what it accepts is a
// bounded set of valid headers that survives a round trip.
func FuzzParseHeadersJSON(f *testing.F) {
	for _, s := range []string{
		`{"Host":"sts.us-east-1.amazonaws.com","X-Amz-Date":["20240101T000000Z"]}`,
		`{"host":"a","Host":"b"}`, `{"A":[]}`, `{"A":["x",1]}`, `{"A":"x"}{}`, `[]`, `{"A\u0000":"x"}`,
		`{"A":"x\r\ny"}`, `{"A":"\u00e9"}`, `{}`, `{"A":{"B":"c"}}`, `{"A":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := awsidentity.ParseHeadersJSON(raw)
		if err != nil {
			if h != nil {
				t.Fatal("a header set with an error")
			}
			return
		}
		if len(raw) > awsidentity.MaxHeadersJSON || len(h) > 64 {
			t.Fatalf("accepted %d bytes, %d headers", len(raw), len(h))
		}
		for k, vs := range h {
			if k == "" || strings.ContainsAny(k, " :\r\n\t\x00") || len(vs) == 0 || len(vs) > 16 {
				t.Fatalf("accepted header %q = %q", k, vs)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("accepted value %q", v)
				}
				for i := 0; i < len(v); i++ {
					if v[i] >= 0x7f {
						t.Fatalf("accepted non-ASCII value %q", v)
					}
				}
			}
		}
		again, _ := json.Marshal(h)
		h2, err := awsidentity.ParseHeadersJSON(string(again))
		if err != nil && len(again) <= awsidentity.MaxHeadersJSON {
			t.Fatalf("round trip of %s: %v", again, err)
		}
		if err == nil && !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip changed %v into %v", h, h2)
		}
	})
}
