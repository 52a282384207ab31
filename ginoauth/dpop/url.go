package dpop

import (
	"net/url"
	"strings"
)

// NormalizeURL returns the form of an absolute http(s) URL that htu is
// compared in (RFC 9449 section 4.3: without query and fragment; RFC 3986
// sections 6.2.2 and 6.2.3): scheme and host in lower case, the default
// port dropped, an empty path as "/", percent-encodings of unreserved
// characters decoded and the others in upper case. ok is false for
// anything else.
func NormalizeURL(s string) (string, bool) {
	if len(s) > 4096 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return "", false // "http://:" has a Host (":") but no host
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	host = strings.TrimSuffix(host, ":")
	// url.Parse decodes "%25" in a host (an IPv6 zone: "[fe80::1%25en0]"
	// has Host "[fe80::1%en0]"); written back as RFC 6874 section 2 does.
	host = strings.ReplaceAll(host, "%", "%25")
	path, ok := normalizePath(u.EscapedPath())
	if !ok {
		return "", false
	}
	n := scheme + "://" + host + path
	if len(n) > 4096 {
		return "", false // escaping can triple a path; n must normalise again
	}
	return n, true
}

// normalizePath applies RFC 3986 section 6.2.2.1 and 6.2.2.2 to an
// escaped path: hex digits in upper case, unreserved characters decoded.
func normalizePath(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	if !strings.Contains(p, "%") {
		return p, true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", false
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
