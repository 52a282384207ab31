package ginoauth

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// MatchRedirectURI reports whether requested is one of the registered
// redirect URIs. The comparison is exact, character for character (RFC 6749
// 3.1.2.3, RFC 9700 4.1.3): no prefix, suffix or host-suffix matching, so
// https://evilexample.com does not pass for https://example.com, nor
// https://example.com/cb/../evil for https://example.com/cb. The one
// exception is RFC 8252 section 7.3's loopback redirect for native apps: a
// registered http URI on a loopback host (isLoopbackHost: the rule
// registration uses too) matches a request that differs from it only in
// the port, which must then be absent or a port number from 1 to 65535
// written without leading zeros. The exception is for native apps: the
// authorization endpoint applies it to public clients only, and matches a
// confidential client's redirect URIs exactly.
func MatchRedirectURI(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackHost(req.Hostname()) || !validPort(req) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || !isLoopbackHost(reg.Hostname()) {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.User == nil && req.User == nil &&
			reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery &&
			reg.Fragment == "" && req.Fragment == "" && !req.ForceQuery && !reg.ForceQuery {
			return true
		}
	}
	return false
}

// validPort reports whether u has no port, or a port from 1 to 65535
// written as a client writes it: url.Parse accepts any run of digits, and
// an empty port after the colon.
func validPort(u *url.URL) bool {
	p := u.Port()
	if p == "" {
		return !strings.HasSuffix(u.Host, ":")
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// isLoopbackHost is the one rule for what counts as a loopback redirect
// URI's host, at registration and at matching: a literal loopback address
// (127.0.0.0/8 or ::1, which RFC 8252 section 8.3 recommends) or the name
// localhost (which it allows, though a literal is safer).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
