package ginoauth

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// formType is the form Content-Type of RFC 6749 section 3.2.
const formType = "application/x-www-form-urlencoded"

// maxRequestBody bounds a token, revocation or introspection request body.
const maxRequestBody = 64 << 10

// ParseParams reads the parameters of a token-endpoint request body: either
// application/x-www-form-urlencoded (RFC 6749 section 3.2) or a JSON object
// of string values (DOT's JSONOAuthLibCore), chosen by Content-Type. Query
// parameters are ignored: credentials never travel in URLs. A parameter
// sent twice (a repeated form field or JSON member) is refused (RFC 6749
// section 3.2), as are bodies over 64 KiB, other content types and JSON
// that is not exactly one object of strings (or nulls, taken as absent).
// Every error is an *oautherr.Error with Code invalid_request.
func ParseParams(r *http.Request) (map[string]string, error) {
	params, _, err := parseParams(r, "")
	return params, err
}

// parseParams is ParseParams, but the parameter named repeatable (if not
// empty) may be sent any number of times: its values are returned in
// order apart from the others (a JSON body may give them as a string or an
// array of strings), and are not in the map.
func parseParams(r *http.Request, repeatable string) (map[string]string, []string, error) {
	ct := r.Header.Get("Content-Type")
	if ct != formType { // the usual one needs no parsing
		ct, _, _ = mime.ParseMediaType(ct)
	}
	if r.Body == nil {
		return map[string]string{}, nil, nil
	}
	body, err := readBody(io.LimitReader(r.Body, maxRequestBody+1), r.ContentLength)
	if err != nil {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body could not be read.")
	}
	if len(body) > maxRequestBody {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body is too large.")
	}
	return parseBodyRepeat(ct, body, repeatable)
}

// readBody is io.ReadAll with a size hint (the request's Content-Length,
// when known): the usual small body takes one right-sized buffer.
func readBody(r io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint >= 0 && hint <= maxRequestBody {
		size = int(hint) + 1 // the extra byte reads EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// parseForm reads an application/x-www-form-urlencoded body as
// url.ParseQuery does (pairs split at "&", a pair with ";" refused,
// names and values unescaped by url.QueryUnescape), straight into one
// value per name. A name sent twice is refused, but for repeatable (if
// not empty), whose values are returned apart, in order. Encoding errors
// are reported before repeats, as ParseQuery's would be.
func parseForm(body, repeatable string) (map[string]string, []string, error) {
	out := make(map[string]string, 4)
	var repeated []string
	dup, repeats := "", false // the first name sent twice
	bad := false
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if strings.Contains(pair, ";") {
			bad = true
			continue
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			bad = true
			continue
		}
		if k == repeatable && repeatable != "" {
			repeated = append(repeated, v)
			continue
		}
		if _, ok := out[k]; ok {
			if !repeats {
				dup, repeats = k, true
			}
			continue
		}
		out[k] = v
	}
	if bad {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body is not valid form encoding.")
	}
	if repeats {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(dup))
	}
	return out, repeated, nil
}

func parseBody(contentType string, body []byte) (map[string]string, error) {
	params, _, err := parseBodyRepeat(contentType, body, "")
	return params, err
}

func parseBodyRepeat(contentType string, body []byte, repeatable string) (map[string]string, []string, error) {
	switch contentType {
	case formType, "":
		if contentType == "" && len(bytes.TrimSpace(body)) > 0 {
			return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
		}
		return parseForm(string(body), repeatable)
	case "application/json":
		return parseJSONObject(body, repeatable)
	default:
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
}

// parseJSONObject reads body as one JSON object whose members are strings
// (or null, which is taken as absent). It walks the tokens itself rather
// than decoding into a map, which would let a repeated member silently
// replace the first (the JSON counterpart of a repeated form parameter,
// refused by RFC 6749 section 3.2); and it insists that nothing but white
// space follows the object. The member named repeatable (if not empty)
// may be a string or an array of strings, and appear more than once; its
// values are returned apart, in order.
func parseJSONObject(body []byte, repeatable string) (map[string]string, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errNotJSONObject
	}
	out := map[string]string{}
	var repeated []string
	var nulls map[string]bool // members sent as null, to refuse them repeated too
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, errNotJSONObject
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, errNotJSONObject
		}
		if _, dup := out[k]; dup || nulls[k] {
			return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
		}
		if tok, err = dec.Token(); err != nil {
			return nil, nil, errNotJSONObject
		}
		if k == repeatable && repeatable != "" {
			if repeated, err = appendJSONStrings(dec, tok, repeated); err != nil {
				return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s must be a string or an array of strings.", oautherr.Quote(k))
			}
			continue
		}
		switch v := tok.(type) {
		case string:
			out[k] = v
		case nil:
			if nulls == nil {
				nulls = map[string]bool{}
			}
			nulls[k] = true
		default:
			return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s must be a string.", oautherr.Quote(k))
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, errNotJSONObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body has data after the JSON object.")
	}
	return out, repeated, nil
}

// appendJSONStrings appends to out the member value that starts with tok:
// a string, null (nothing), or an array of strings.
func appendJSONStrings(dec *json.Decoder, tok json.Token, out []string) ([]string, error) {
	switch v := tok.(type) {
	case string:
		return append(out, v), nil
	case nil:
		return out, nil
	case json.Delim:
		if v != '[' {
			return nil, errNotJSONObject
		}
		for dec.More() {
			t, err := dec.Token()
			s, ok := t.(string)
			if err != nil || !ok {
				return nil, errNotJSONObject
			}
			out = append(out, s)
		}
		if t, err := dec.Token(); err != nil || t != json.Delim(']') {
			return nil, errNotJSONObject
		}
		return out, nil
	}
	return nil, errNotJSONObject
}

var errNotJSONObject = oautherr.ErrInvalidRequest.WithDescription("The request body is not a JSON object.")
