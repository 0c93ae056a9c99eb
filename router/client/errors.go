package client

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/rpcstatus"
)

// Error marks, checked with errors.Is.
var (
	// ErrOutcomeUnknown marks an *UnknownOutcomeError: a mutation may have
	// executed. Resolve it by calling again with the same key.
	ErrOutcomeUnknown = errors.New("client: outcome unknown")
	// ErrUnavailable means no answer came before the deadline and, for a
	// mutation, that no attempt reached a router: it did not execute.
	ErrUnavailable = errors.New("client: no router answered")
	// ErrClosed is returned by operations on a closed Client.
	ErrClosed = errors.New("client: closed")
)

// BusinessError is a definitive answer of the ledger or the router: the
// request was refused (and a retry with the same key gets the same answer).
// It is never retried. After an ambiguous attempt of a mutation, only a
// refusal the ledger stored under the key is reported as one.
type BusinessError struct {
	// Op is the operation, e.g. "Transfer".
	Op string
	// Code is the gRPC code, e.g. codes.FailedPrecondition.
	Code codes.Code
	// Reason is the machine-readable reason from the cellpay ErrorInfo,
	// e.g. "INSUFFICIENT_FUNDS"; empty when the server sent none.
	Reason string
	// Message is the server's explanation, for people.
	Message string
	// Field names the request field at fault, when there is one.
	Field string

	cause error
}

func (e *BusinessError) Error() string {
	what := e.Reason
	if what == "" {
		what = e.Code.String()
	}
	msg := fmt.Sprintf("client: %s refused: %s: %s", e.Op, what, e.Message)
	if e.Field != "" {
		msg += fmt.Sprintf(" (field %s)", e.Field)
	}
	return msg
}

// Unwrap returns the gRPC status error, so status.Code(err) works.
func (e *BusinessError) Unwrap() error { return e.cause }

// UnknownOutcomeError reports a mutation that may or may not have executed:
// an attempt was sent and its answer was lost (attempt timeout, broken
// connection, OUTCOME_UNKNOWN), and no definitive answer came before the
// deadline, or a later refusal came that the ledger did not store under
// the key (it says nothing about the earlier attempt). It is NOT a failure. Resolve it by calling again with the same
// Key and the same parameters; never with a new key or through another
// channel (MISSION.md, incident 2).
type UnknownOutcomeError struct {
	// Op is the operation, e.g. "Transfer".
	Op string
	// Key is the idempotency key (a transfer's id) to retry with.
	Key string
	// Last is the error of the last attempt.
	Last error
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("client: %s with key %q: outcome unknown, it may have executed; "+
		"resolve it by retrying with the same key, never with a new one: last error: %v", e.Op, e.Key, e.Last)
}

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *UnknownOutcomeError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Unwrap returns the last attempt's error.
func (e *UnknownOutcomeError) Unwrap() error { return e.Last }

func newBusinessError(op string, err error) *BusinessError {
	st, _ := status.FromError(err)
	e := &BusinessError{Op: op, Code: st.Code(), Message: st.Message(), cause: err}
	if info, ok := rpcstatus.Info(err); ok {
		e.Reason = info.GetReason()
		e.Field = info.GetMetadata()[rpcstatus.MetaField]
	}
	return e
}

// class is what the retry loop does with an attempt's error.
type class int

const (
	// classRetry: no answer yet; send the same request again.
	classRetry class = iota
	// classBusiness: a definitive refusal; return it.
	classBusiness
	// classNoAnswer: an error the client does not understand (INTERNAL,
	// UNKNOWN, DATA_LOSS); not retried, and ambiguous if sent.
	classNoAnswer
)

func classify(err error) class {
	if outcomeUnknown(err) {
		// Whatever its code: the request may have executed, and only a
		// retry with the same key can tell.
		return classRetry
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		// Canceled: the caller's context (the loop then stops) or a
		// connection closed under the attempt.
		return classRetry
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition,
		codes.OutOfRange, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return classBusiness
	default:
		return classNoAnswer
	}
}

// outcomeUnknown reports whether err is an OUTCOME_UNKNOWN answer: the
// request may have executed.
func outcomeUnknown(err error) bool {
	info, ok := rpcstatus.Info(err)
	return ok && info.GetReason() == rpcstatus.ReasonOutcomeUnknown
}

// storedRefusal reports whether err is a refusal the ledger stored under
// the request's idempotency key: the one refusal that is definite after an
// ambiguous attempt, since every retry with the key gets it again. Any
// other refusal (a wrong-cell answer from one node's view, an invalid
// request) says nothing about whether an earlier attempt executed.
func storedRefusal(err error) bool {
	info, ok := rpcstatus.Info(err)
	return ok && info.GetMetadata()[rpcstatus.MetaStored] == "true"
}

// transportFailure reports whether an attempt's error blames the router
// (or the way to it) rather than the cell behind it: UNAVAILABLE without a
// cellpay reason (refused or broken connection), a connection closed under
// the attempt, or the attempt's own timeout.
func transportFailure(err error, attemptTimedOut, opAlive bool) bool {
	if attemptTimedOut {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable:
		_, ok := rpcstatus.Info(err)
		return !ok
	case codes.Canceled:
		return opAlive
	}
	return false
}

// invalidArgument is a BusinessError found by the client itself, before
// any RPC, shaped like the ledger's own.
func invalidArgument(op, field, msg string) *BusinessError {
	msg = fmt.Sprintf("invalid %s: %s", field, msg)
	return &BusinessError{Op: op, Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT", Message: msg, Field: field,
		cause: status.Error(codes.InvalidArgument, msg)}
}
