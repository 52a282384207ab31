package ginoauth

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxRequestBody bounds a token, revocation or introspection request body.
const maxRequestBody = 64 << 10

// ParseParams reads the parameters of a token-endpoint request body: either
// application/x-www-form-urlencoded (RFC 6749 section 3.2) or a JSON object
// of string values (DOT's JSONOAuthLibCore), chosen by Content-Type. Query
// parameters are ignored: credentials never travel in URLs. A parameter
// sent twice is refused (RFC 6749 section 3.2), as are bodies over 64 KiB,
// other content types and JSON that is not an object of strings. Every
// error is an *Error with Code invalid_request.
func ParseParams(r *http.Request) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil {
		return map[string]string{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("The request body could not be read.")
	}
	if len(body) > maxRequestBody {
		return nil, ErrInvalidRequest.WithDescription("The request body is too large.")
	}
	return parseBody(ct, body)
}

func parseBody(contentType string, body []byte) (map[string]string, error) {
	switch contentType {
	case "application/x-www-form-urlencoded", "":
		if contentType == "" && len(bytes.TrimSpace(body)) > 0 {
			return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, ErrInvalidRequest.WithDescription("The request body is not valid form encoding.")
		}
		out := make(map[string]string, len(vals))
		for k, v := range vals {
			if len(v) != 1 {
				return nil, ErrInvalidRequest.WithDescription("Parameter %s is repeated.", echo(k))
			}
			out[k] = v[0]
		}
		return out, nil
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil || raw == nil {
			return nil, ErrInvalidRequest.WithDescription("The request body is not a JSON object.")
		}
		if dec.More() {
			return nil, ErrInvalidRequest.WithDescription("The request body holds more than one JSON value.")
		}
		out := make(map[string]string, len(raw))
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				out[k] = v
			case nil:
			default:
				return nil, ErrInvalidRequest.WithDescription("Parameter %s must be a string.", echo(k))
			}
		}
		return out, nil
	default:
		return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
}
