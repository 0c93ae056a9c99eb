package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Money fields are the fields whose proto name ends in moneySuffix: int64
// amounts of minor units (DESIGN.md: money is never a float).
//
// protojson reads an int64 from many spellings ("1e3", 1e3, 1.0, "-0"),
// and the decoded int64 no longer shows which one the client sent. A client
// that sends 1e3 has probably serialized a float, and may have lost digits
// on the way; guessing its meaning moves money. So the raw JSON of every
// money field is checked before protojson decodes the body, and only
// canonical decimal integers pass:
//
//   - a JSON number or a JSON string of the same text;
//   - an optional '-' then digits, with no leading zero ("0" itself is
//     fine; "007", "-0" and "00" are not: one spelling per amount);
//   - no exponent, fraction, '+', space, or any other character;
//   - within int64.
//
// null, true, false, objects and arrays are refused too (protojson takes
// null as 0). Anything refused is 400 INVALID_ARGUMENT naming the field by
// its proto name, whichever of its names (amount_minor, amountMinor) the
// body used.
const moneySuffix = "_minor"

// jsonNestingDepthMax bounds how deep the money check follows nested
// values. The request bodies are flat objects, so a deeper value can only
// be an unknown field or a wrong type, which protojson refuses anyway;
// the bound keeps the walk's work predictable whatever the body.
const jsonNestingDepthMax = 32

var errNestingTooDeep = fmt.Errorf("the body nests deeper than %d levels", jsonNestingDepthMax)

// checkMoney reads the JSON object body of a request for message md and
// refuses the first money field whose value is not a canonical decimal
// integer.
//
// A body it cannot read through (malformed JSON, not an object, nesting
// beyond jsonNestingDepthMax) gives no refusal but a scanErr: protojson's
// own message then describes the fault better. The caller must not forward
// a body with a scanErr even if protojson accepts it, since its money fields
// were not all checked.
//
// Its work is linear in len(body) and it never panics: encoding/json's
// Decoder keeps its own stack on the heap, not in recursion.
func checkMoney(body []byte, md protoreflect.MessageDescriptor) (refusal *apiError, scanErr error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep a number's text as sent: 1e3 must stay 1e3
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("the body is not a JSON object")
	}
	fields := md.Fields()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok { // the Decoder gives only strings as object keys
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		// The same lookup as protojson's: the JSON name, then the proto name.
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		switch {
		case fd == nil: // an unknown field: protojson refuses it by name
		case fd.Message() != nil:
			// No request has a message field today. One that did could hide
			// money fields from this flat check, so refuse rather than forward
			// unchecked amounts: the server is at fault, not the client.
			return handlerError(http.StatusInternalServerError, codes.Internal, ReasonInternal,
				fmt.Sprintf("httpapi: field %s of %s is a message, which the money check does not read yet", fd.Name(), md.FullName())), nil
		case strings.HasSuffix(string(fd.Name()), moneySuffix):
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if e := checkAmount(string(fd.Name()), tok); e != nil {
				return e, nil
			}
			continue
		}
		if err := skipValue(dec); err != nil {
			return nil, err
		}
	}
	_, err = dec.Token() // the closing '}'; what follows is protojson's to refuse
	return nil, err
}

// skipValue reads one value (of any nesting up to jsonNestingDepthMax
// below the top-level object) without looking at it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > jsonNestingDepthMax {
				return errNestingTooDeep
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// checkAmount refuses tok, the value of money field field, unless it is a
// canonical decimal integer within int64.
func checkAmount(field string, tok json.Token) *apiError {
	var text, shown string
	switch v := tok.(type) {
	case json.Number:
		text, shown = string(v), echo(string(v))
	case string:
		text, shown = v, strconv.Quote(echo(v))
	case nil:
		shown = "null"
	case bool:
		shown = strconv.FormatBool(v)
	case json.Delim: // only '{' or '[' can start a value
		shown = "an array"
		if v == '{' {
			shown = "an object"
		}
	}
	if !isDecimalInteger(text) {
		return invalidArgument(field, fmt.Sprintf("httpapi: invalid %s: %s is not a decimal integer of minor units; "+
			"send digits with an optional leading '-', as a JSON string (\"1500\") or number (1500), "+
			"with no exponent, fraction, '+', leading zero or space", field, shown))
	}
	if _, err := strconv.ParseInt(text, 10, 64); err != nil { // only a range error is left
		return invalidArgument(field, fmt.Sprintf("httpapi: invalid %s: %s is outside the range of an amount of minor units (%d to %d)",
			field, shown, int64(-1<<63), int64(1<<63-1)))
	}
	return nil
}

// isDecimalInteger reports whether s is "0" or an optional '-' followed by
// a digit 1-9 and more digits: the one canonical spelling of an integer.
func isDecimalInteger(s string) bool {
	if s == "0" {
		return true
	}
	s = strings.TrimPrefix(s, "-")
	if s == "" || s[0] == '0' {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
