package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
)

// Reasons of the errors the handler itself answers, before any call to the
// PaymentsServer. Errors of the server carry the server's reason
// (docs/LEDGER.md).
const (
	ReasonMalformedJSON        = "MALFORMED_JSON"
	ReasonBodyTooLarge         = "BODY_TOO_LARGE"
	ReasonBodyUnreadable       = "BODY_UNREADABLE"
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	ReasonNotFound             = "NOT_FOUND"
	ReasonMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	ReasonInternal             = "INTERNAL"
)

// reasonInvalidArgument is the ledger's reason for a named invalid field;
// the handler uses it for keys, query parameters and headers too.
var reasonInvalidArgument = rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)

// reasonKeyReused is answered 422, not 409: the request can never succeed
// with that key, whatever the state of the ledger.
var reasonKeyReused = rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED)

// StatusClientClosedRequest is the (nginx) status of a call canceled by the
// client.
const StatusClientClosedRequest = 499

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error *apiError `json:"error"`
}

// apiError is one error answer.
type apiError struct {
	// Code is the canonical gRPC code name, e.g. "FAILED_PRECONDITION".
	Code       string `json:"code"`
	HTTPStatus int    `json:"http_status"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
}

// codeName is the canonical name of a gRPC code (google.rpc.Code).
func codeName(c codes.Code) string {
	if name, ok := code.Code_name[int32(c)]; ok {
		return name
	}
	return "CODE_" + strconv.FormatUint(uint64(c), 10)
}

// httpStatus maps a gRPC code (and reason) to the HTTP status.
func httpStatus(c codes.Code, reason string) int {
	switch c {
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.FailedPrecondition:
		if reason == reasonKeyReused {
			return http.StatusUnprocessableEntity
		}
		return http.StatusConflict
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Canceled:
		return StatusClientClosedRequest
	default:
		return http.StatusInternalServerError
	}
}

// serverError converts an error of the PaymentsServer. Reason and field
// come from its cellpay ErrorInfo; without one the reason is the code name.
func serverError(err error) *apiError {
	st, ok := status.FromError(err)
	if !ok {
		// A bare context error (the server gave up on our deadline without
		// wrapping it) keeps its meaning; anything else is UNKNOWN, as gRPC
		// itself would send it.
		st = status.FromContextError(err)
	}
	c := st.Code()
	if c == codes.OK { // an error value claiming success is a server bug
		c = codes.Unknown
	}
	e := &apiError{Code: codeName(c), Message: st.Message()}
	if info, found := rpcstatus.Info(err); found {
		e.Reason = info.GetReason()
		e.Field = info.GetMetadata()[rpcstatus.MetaField]
	}
	if e.Reason == "" {
		e.Reason = e.Code
	}
	e.HTTPStatus = httpStatus(c, e.Reason)
	return e
}

// invalidArgument is a 400 naming the field at fault.
func invalidArgument(field, msg string) *apiError {
	return &apiError{Code: codeName(codes.InvalidArgument), HTTPStatus: http.StatusBadRequest,
		Reason: reasonInvalidArgument, Message: msg, Field: field}
}

// handlerError is an error answered by the handler itself.
func handlerError(httpStatus int, c codes.Code, reason, msg string) *apiError {
	return &apiError{Code: codeName(c), HTTPStatus: httpStatus, Reason: reason, Message: msg}
}

// writeError writes e as the JSON error body. encoding/json replaces invalid
// UTF-8 in messages, so the body is always valid JSON.
func writeError(w http.ResponseWriter, e *apiError) {
	body, err := json.Marshal(errorBody{Error: e})
	if err != nil { // only strings and an int: cannot fail
		panic("httpapi: marshal error body: " + err.Error())
	}
	if e.HTTPStatus == http.StatusServiceUnavailable {
		// Unavailable is transient (a failover in progress, no leader yet):
		// a prompt retry with the same key is the expected reaction.
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.HTTPStatus, body)
}

func writeJSON(w http.ResponseWriter, httpStatus int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	// Balances and transfers are never to be served from a cache.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(httpStatus)
	// A failed write means the client is gone; nothing is left to tell it.
	_, _ = w.Write(append(body, '\n'))
}
