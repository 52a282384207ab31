package ginoauth

import (
	"net"
	"net/url"
)

// MatchRedirectURI reports whether requested is one of the registered
// redirect URIs. The comparison is exact, character for character (RFC 6749
// 3.1.2.3, RFC 9700 4.1.3): no prefix, suffix or host-suffix matching, so
// https://evilexample.com does not pass for https://example.com, nor
// https://example.com/cb/../evil for https://example.com/cb. The one
// exception is RFC 8252 7.3's loopback redirect for native apps: a
// registered http://127.0.0.1 or http://[::1] URI matches a request that
// differs from it only in the port.
func MatchRedirectURI(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackIP(req.Hostname()) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || !isLoopbackIP(reg.Hostname()) {
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

// isLoopbackIP is true for the literal loopback addresses RFC 8252 8.3
// recommends (not the name localhost).
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
