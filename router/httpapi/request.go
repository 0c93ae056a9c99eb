package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Request headers read by the handler.
const (
	// HeaderIdempotencyKey fills idempotency_key (transfer_id for transfers)
	// when the body has none.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderRequestTimeoutMs shortens Config.RequestTimeout for one request.
	HeaderRequestTimeoutMs = "X-Request-Timeout-Ms"
)

// echoBytesMax bounds how much of a client's text (a parameter name, a
// key) is repeated in an error message.
const echoBytesMax = 80

var unmarshalOptions = protojson.UnmarshalOptions{DiscardUnknown: false}

// unknownFieldPattern finds the field name in protojson's "unknown field"
// error, to put it in the error's field. The message itself names it too,
// so a change of wording loses only the field.
var unknownFieldPattern = regexp.MustCompile(`unknown field "([A-Za-z0-9_.\[\]/-]{1,128})"`)

func echo(s string) string {
	if len(s) > echoBytesMax {
		return s[:echoBytesMax] + "..."
	}
	return s
}

// parseQuery parses the query string and accepts only the named
// parameters, each at most once: like unknown body fields, an unknown
// parameter is more likely a typo than something to ignore.
func parseQuery(r *http.Request, allowed ...string) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidArgument("", fmt.Sprintf("httpapi: malformed query string: %v", err))
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names) // report the same parameter every time
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			accepted := "none"
			if len(allowed) > 0 {
				accepted = strings.Join(allowed, ", ")
			}
			return nil, invalidArgument(echo(name), fmt.Sprintf("httpapi: unknown query parameter %q; this route accepts: %s", echo(name), accepted))
		}
		if n := len(q[name]); n > 1 {
			return nil, invalidArgument(name, fmt.Sprintf("httpapi: query parameter %s is given %d times; give it once", name, n))
		}
	}
	return q, nil
}

// parsePageSize reads page_size: absent means 0 (the server's default).
func parsePageSize(q url.Values) (uint32, *apiError) {
	if !q.Has("page_size") {
		return 0, nil
	}
	v := q.Get("page_size")
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, invalidArgument("page_size", fmt.Sprintf("httpapi: invalid page_size: %q is not an integer between 0 and 4294967295", echo(v)))
	}
	return uint32(n), nil
}

// payoutStateNames are the state parameter's values, case-insensitive; the
// enum's own names (PAYOUT_STATE_UNKNOWN) are accepted too.
var payoutStateNames = []string{"pending", "succeeded", "failed", "unknown"}

// parsePayoutState reads state: absent means every state.
func parsePayoutState(q url.Values) (pb.PayoutState, *apiError) {
	if !q.Has("state") {
		return pb.PayoutState_PAYOUT_STATE_UNSPECIFIED, nil
	}
	v := q.Get("state")
	name := strings.ToLower(strings.TrimPrefix(strings.ToUpper(v), "PAYOUT_STATE_"))
	if slices.Contains(payoutStateNames, name) {
		return pb.PayoutState(pb.PayoutState_value["PAYOUT_STATE_"+strings.ToUpper(name)]), nil
	}
	return 0, invalidArgument("state", fmt.Sprintf("httpapi: invalid state: %q is not one of %s (leave state out for every state)",
		echo(v), strings.Join(payoutStateNames, ", ")))
}

// parseCellID reads cell_id: absent means 0 (every cell).
func parseCellID(q url.Values) (uint64, *apiError) {
	if !q.Has("cell_id") {
		return 0, nil
	}
	v := q.Get("cell_id")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalidArgument("cell_id", fmt.Sprintf("httpapi: invalid cell_id: %q is not a cell id (an integer; 0 or none for every cell)", echo(v)))
	}
	return n, nil
}

// callTimeout is the deadline of the server call: Config.RequestTimeout, or
// less if the client asks for less.
func (h *handler) callTimeout(r *http.Request) (time.Duration, *apiError) {
	vals := r.Header.Values(HeaderRequestTimeoutMs)
	switch len(vals) {
	case 0:
		return h.cfg.RequestTimeout, nil
	case 1:
	default:
		return 0, invalidArgument(HeaderRequestTimeoutMs, fmt.Sprintf("httpapi: header %s is given %d times; give it once", HeaderRequestTimeoutMs, len(vals)))
	}
	ms, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil || ms <= 0 {
		return 0, invalidArgument(HeaderRequestTimeoutMs, fmt.Sprintf("httpapi: invalid header %s: %q is not a positive number of milliseconds", HeaderRequestTimeoutMs, echo(vals[0])))
	}
	if ms >= h.cfg.RequestTimeout.Milliseconds() { // also keeps the product below from overflowing
		return h.cfg.RequestTimeout, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// checkContentType accepts application/json with an optional UTF-8
// charset: JSON is UTF-8 (RFC 8259) and protojson reads nothing else.
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err == nil && mediaType == "application/json" {
		charset, ok := params["charset"]
		if !ok || strings.EqualFold(charset, "utf-8") {
			return nil
		}
	}
	return handlerError(http.StatusUnsupportedMediaType, codes.InvalidArgument, ReasonUnsupportedMediaType,
		fmt.Sprintf("httpapi: Content-Type %q is not supported; send application/json", echo(ct)))
}

// decodeBody reads a JSON request body of at most Config.BodyBytesMax
// bytes into msg.
func (h *handler) decodeBody(w http.ResponseWriter, r *http.Request, msg proto.Message) *apiError {
	if e := checkContentType(r); e != nil {
		return e
	}
	tooLarge := handlerError(http.StatusRequestEntityTooLarge, codes.InvalidArgument, ReasonBodyTooLarge,
		fmt.Sprintf("httpapi: request body is larger than %d bytes", h.cfg.BodyBytesMax))
	if r.ContentLength > h.cfg.BodyBytesMax {
		return tooLarge // known from the header: do not read any of it
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.BodyBytesMax))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return tooLarge
			}
			return handlerError(http.StatusBadRequest, codes.InvalidArgument, ReasonBodyUnreadable,
				fmt.Sprintf("httpapi: reading the request body: %v", err))
		}
	}
	// Money fields are checked in their raw form first: once protojson has
	// decoded "1e3" into 1000, nothing shows that the client did not send
	// 1000 (money.go).
	refusal, scanErr := checkMoney(body, msg.ProtoReflect().Descriptor())
	if refusal != nil {
		return refusal
	}
	if err := unmarshalOptions.Unmarshal(body, msg); err != nil {
		e := handlerError(http.StatusBadRequest, codes.InvalidArgument, ReasonMalformedJSON, err.Error())
		if m := unknownFieldPattern.FindStringSubmatch(err.Error()); m != nil {
			e.Field = m[1]
		}
		return e
	}
	if scanErr != nil {
		// protojson read what the money check could not: fail closed rather
		// than forward an amount nobody checked.
		return handlerError(http.StatusBadRequest, codes.InvalidArgument, ReasonMalformedJSON,
			fmt.Sprintf("httpapi: reading the money fields of the body: %v", scanErr))
	}
	return nil
}

// idempotencyKey merges the key of the body (bodyKey, of field) with the
// Idempotency-Key header: either may be given, both only if equal, and one
// is required. The router's server checks the key again; checking it here
// first means a request without one calls nothing.
func idempotencyKey(r *http.Request, field, bodyKey string) (string, *apiError) {
	vals := r.Header.Values(HeaderIdempotencyKey)
	if len(vals) > 1 {
		return "", invalidArgument(field, fmt.Sprintf("httpapi: header %s is given %d times; give it once", HeaderIdempotencyKey, len(vals)))
	}
	headerKey := ""
	if len(vals) == 1 {
		headerKey = vals[0]
	}
	switch {
	case headerKey == "" && bodyKey == "":
		return "", invalidArgument(field, fmt.Sprintf("httpapi: invalid %s: is required (in the body or the %s header); a retry must send the same one", field, HeaderIdempotencyKey))
	case headerKey == "":
		return bodyKey, nil
	case bodyKey == "" || bodyKey == headerKey:
		return headerKey, nil
	default:
		return "", invalidArgument(field, fmt.Sprintf("httpapi: invalid %s: the body's %q differs from the %s header's %q; send one, or both equal",
			field, echo(bodyKey), HeaderIdempotencyKey, echo(headerKey)))
	}
}
