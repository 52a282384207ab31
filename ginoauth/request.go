package ginoauth

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"

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
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body could not be read.")
	}
	if len(body) > maxRequestBody {
		return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body is too large.")
	}
	return parseBodyRepeat(ct, body, repeatable)
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
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, oautherr.ErrInvalidRequest.WithDescription("The request body is not valid form encoding.")
		}
		var repeated []string
		if repeatable != "" {
			repeated = vals[repeatable]
			delete(vals, repeatable)
		}
		out := make(map[string]string, len(vals))
		for k, v := range vals {
			if len(v) != 1 {
				return nil, nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
			}
			out[k] = v[0]
		}
		return out, repeated, nil
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
