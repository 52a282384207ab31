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
	ct := r.Header.Get("Content-Type")
	if ct != formType { // the usual one needs no parsing
		ct, _, _ = mime.ParseMediaType(ct)
	}
	if r.Body == nil {
		return map[string]string{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, oautherr.ErrInvalidRequest.WithDescription("The request body could not be read.")
	}
	if len(body) > maxRequestBody {
		return nil, oautherr.ErrInvalidRequest.WithDescription("The request body is too large.")
	}
	return parseBody(ct, body)
}

func parseBody(contentType string, body []byte) (map[string]string, error) {
	switch contentType {
	case formType, "":
		if contentType == "" && len(bytes.TrimSpace(body)) > 0 {
			return nil, oautherr.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, oautherr.ErrInvalidRequest.WithDescription("The request body is not valid form encoding.")
		}
		out := make(map[string]string, len(vals))
		for k, v := range vals {
			if len(v) != 1 {
				return nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
			}
			out[k] = v[0]
		}
		return out, nil
	case "application/json":
		return parseJSONObject(body)
	default:
		return nil, oautherr.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
}

// parseJSONObject reads body as one JSON object whose members are strings
// (or null, which is taken as absent). It walks the tokens itself rather
// than decoding into a map, which would let a repeated member silently
// replace the first (the JSON counterpart of a repeated form parameter,
// refused by RFC 6749 section 3.2); and it insists that nothing but white
// space follows the object.
func parseJSONObject(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotJSONObject
	}
	out := map[string]string{}
	var nulls map[string]bool // members sent as null, to refuse them repeated too
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errNotJSONObject
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errNotJSONObject
		}
		if _, dup := out[k]; dup || nulls[k] {
			return nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
		}
		if tok, err = dec.Token(); err != nil {
			return nil, errNotJSONObject
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
			return nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s must be a string.", oautherr.Quote(k))
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotJSONObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, oautherr.ErrInvalidRequest.WithDescription("The request body has data after the JSON object.")
	}
	return out, nil
}

var errNotJSONObject = oautherr.ErrInvalidRequest.WithDescription("The request body is not a JSON object.")
