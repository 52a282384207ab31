package snippets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"unicode/utf8"
)

// MaxTitleLength is the most characters a title may have (DRF tutorial:
// CharField(max_length=100)).
const MaxTitleLength = 100

// DefaultMaxCodeBytes is the most bytes a snippet's code may have unless
// the caller of DecodeInput says otherwise: 64 KiB, far more than a snippet
// needs, few enough that a page of the list stays small.
const DefaultMaxCodeBytes = 64 << 10

// Defaults of the optional fields, as in DRF's tutorial.
const (
	DefaultLanguage = "python"
	DefaultStyle    = "friendly"
)

// Languages are the languages a snippet may be in: Pygments lexer names.
var Languages = []string{
	"bash", "c", "cpp", "csharp", "css", "go", "haskell", "html", "java",
	"javascript", "json", "kotlin", "lua", "perl", "php", "python", "ruby",
	"rust", "scala", "sql", "swift", "typescript", "yaml",
}

// Styles are the styles a snippet may be shown in: Pygments style names.
var Styles = []string{
	"autumn", "borland", "bw", "colorful", "default", "dracula", "emacs",
	"friendly", "github-dark", "gruvbox-dark", "monokai", "native", "nord",
	"solarized-dark", "solarized-light", "tango", "vim", "vs", "xcode",
	"zenburn",
}

// Input is what a client may set on a snippet: the fields present in its
// JSON body (a nil field was absent). The read-only fields id, owner and
// created are accepted and ignored, as DRF does, so a client can send back
// what it read.
type Input struct {
	Title    *string
	Code     *string
	Linenos  *bool
	Language *string
	Style    *string
}

// InputError is a client's input that DecodeInput refused: a description
// and, when particular fields are wrong, a message for each (DRF's
// per-field errors).
type InputError struct {
	Description string
	Fields      map[string]string
}

// Error implements error: the description, then each field's message.
func (e *InputError) Error() string {
	if len(e.Fields) == 0 {
		return "snippets: " + e.Description
	}
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := "snippets: " + e.Description
	for _, k := range names {
		msg += fmt.Sprintf("; %s: %s", k, e.Fields[k])
	}
	return msg
}

// Field messages, worded as DRF's.
const (
	msgRequired = "This field is required."
	msgNull     = "This field may not be null."
	msgBlank    = "This field may not be blank."
	msgString   = "Not a valid string."
	msgBoolean  = "Must be a valid boolean."
	msgUnknown  = "Unknown field."
	msgTooLong  = "Ensure this field has no more than %d characters."
	msgTooBig   = "Ensure this field has no more than %d bytes."
	msgChoice   = "%q is not a valid choice."
)

// DecodeInput parses a snippet sent by a client: one JSON object whose
// members are the snippet's writable fields with the right JSON types
// (strings, and a boolean for linenos). With requireCode (create, and PUT
// as DRF's full update) the code field must be present. Anything else is
// an *InputError: a body that is not valid UTF-8, or not one JSON object,
// or with a member twice in one object (at any depth), an unknown field, a
// wrong type or null, a blank code or one over maxCodeBytes bytes (zero or
// less: DefaultMaxCodeBytes) of UTF-8, a title over MaxTitleLength
// characters, a language or style outside Languages or Styles.
func DecodeInput(body []byte, requireCode bool, maxCodeBytes int) (*Input, error) {
	if maxCodeBytes <= 0 {
		maxCodeBytes = DefaultMaxCodeBytes
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &InputError{Description: "The request body is empty; send a JSON object."}
	}
	if !utf8.Valid(body) {
		return nil, &InputError{Description: "The request body is not valid UTF-8."}
	}
	if dup := duplicateMember(body); dup != "" {
		return nil, &InputError{Description: fmt.Sprintf("The request body has the member %q more than once.", dup)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &InputError{Description: "The request body must be a JSON object."}
		}
		return nil, &InputError{Description: "The request body is not valid JSON: " + err.Error() + "."}
	}
	if raw == nil {
		return nil, &InputError{Description: "The request body must be a JSON object."}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &InputError{Description: "The request body must hold one JSON object and nothing after it."}
	}

	in := &Input{}
	fields := map[string]string{}
	for name, v := range raw {
		var msg string
		switch name {
		case "title":
			in.Title, msg = decodeString(v)
			if msg == "" && utf8.RuneCountInString(*in.Title) > MaxTitleLength {
				msg = fmt.Sprintf(msgTooLong, MaxTitleLength)
			}
		case "code":
			in.Code, msg = decodeString(v)
			switch {
			case msg != "":
			case len(bytes.TrimSpace([]byte(*in.Code))) == 0:
				msg = msgBlank
			case len(*in.Code) > maxCodeBytes:
				msg = fmt.Sprintf(msgTooBig, maxCodeBytes)
			}
		case "linenos":
			in.Linenos, msg = decodeBool(v)
		case "language":
			in.Language, msg = decodeChoice(v, Languages)
		case "style":
			in.Style, msg = decodeChoice(v, Styles)
		case "id", "owner", "created":
			// Read-only: ignored, as DRF does.
		default:
			msg = msgUnknown
		}
		if msg != "" {
			fields[name] = msg
		}
	}
	if requireCode && in.Code == nil && fields["code"] == "" {
		fields["code"] = msgRequired
	}
	if len(fields) > 0 {
		return nil, &InputError{Description: "The snippet is not valid; see fields.", Fields: fields}
	}
	return in, nil
}

// duplicateMember returns the first name found twice in one JSON object
// of body, at any depth, or "" (also when body is not valid JSON, which
// DecodeInput reports next). encoding/json would keep the last value,
// where another parser may keep the first.
func duplicateMember(body []byte) string {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]bool
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); !ok || d != '}' {
				k, _ := tok.(string)
				if top.keys[k] {
					return k
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return ""
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true // a value ended: a key or '}' comes next
		}
	}
}

func decodeString(v json.RawMessage) (*string, string) {
	switch firstByte(v) {
	case 'n':
		return nil, msgNull
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, msgString
		}
		return &s, ""
	default:
		return nil, msgString
	}
}

func decodeBool(v json.RawMessage) (*bool, string) {
	switch firstByte(v) {
	case 'n':
		return nil, msgNull
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, msgBoolean
		}
		return &b, ""
	default:
		return nil, msgBoolean
	}
}

func decodeChoice(v json.RawMessage, choices []string) (*string, string) {
	s, msg := decodeString(v)
	if msg != "" {
		return nil, msg
	}
	if !slices.Contains(choices, *s) {
		return nil, fmt.Sprintf(msgChoice, *s)
	}
	return s, ""
}

func firstByte(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// New returns a snippet made of in, with the defaults of DRF's tutorial
// for the fields in leaves out: an empty title, no line numbers, language
// DefaultLanguage and style DefaultStyle. Owner, ID and Created are left
// for the caller and the store.
func (in *Input) New() *Snippet {
	s := &Snippet{Language: DefaultLanguage, Style: DefaultStyle}
	in.Apply(s)
	return s
}

// Apply sets on s the fields present in in and leaves the others as they
// are: a partial update (PATCH), and also a full one (PUT), whose absent
// optional fields DRF leaves unchanged.
func (in *Input) Apply(s *Snippet) {
	if in.Title != nil {
		s.Title = *in.Title
	}
	if in.Code != nil {
		s.Code = *in.Code
	}
	if in.Linenos != nil {
		s.Linenos = *in.Linenos
	}
	if in.Language != nil {
		s.Language = *in.Language
	}
	if in.Style != nil {
		s.Style = *in.Style
	}
}
