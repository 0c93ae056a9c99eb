package forward

import (
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/rpcstatus"
)

// Which answers are final (docs/ROUTER.md, "Which answers are final").
//
// The Forwarder sends a request unchanged, with one idempotency key, until
// it gets an answer. Once an attempt of a mutation may have executed (its
// request may have reached a node and no definite answer came back), only
// two answers tell the caller the truth: the request's definite result (a
// success, or a refusal that the ledger stored under the key), or
// UNAVAILABLE with reason OUTCOME_UNKNOWN carrying the key. Any other error
// after such an attempt — CELL_NOT_HOSTED from a replica still starting,
// WRONG_CELL from one node's view of the topology, an invalid request —
// says nothing about that earlier attempt; passed on as is, it reads as "not
// executed", and a client that then tries again with a new key pays twice.
//
// finality is that rule as a pure fold over the attempts of one request (no
// I/O, no clock): Forwarder.forward makes the attempts and feeds them in.

// forwardRequest is what the rule needs to know about a forwarded call.
type forwardRequest struct {
	cellID uint64
	// op names the call in errors, e.g. "Transfer".
	op string
	// mutation is true for a call that changes the ledger under key.
	// Reads change nothing: no attempt of theirs leaves an outcome unknown.
	mutation bool
	// key is the mutation's idempotency key (a transfer's or credit's
	// transfer id, a payout's payout id).
	key string
}

// attemptOutcome is one attempt as the Forwarder saw it.
type attemptOutcome struct {
	// err is the attempt's error; nil is a success.
	err error
	// sent reports whether the request may have reached a node: gRPC made
	// a stream for it on a connection. False only when the attempt
	// certainly failed before sending (the node is not in the topology, no
	// connection could be made before the attempt's timeout).
	sent bool
}

// finality folds the attempts of one request into its answer.
type finality struct {
	req forwardRequest
	// ambiguous is the error of the first mutation attempt that may have
	// executed without a definite answer; nil while none did.
	ambiguous error
	// last is the last attempt's error (nil after none, or a success).
	last     error
	attempts int
}

// add records the next attempt. final reports that answer (nil: success)
// is the request's answer; otherwise the Forwarder may send it again, and
// asks atDeadline for the answer if it has to stop.
func (f *finality) add(a attemptOutcome) (answer error, final bool) {
	f.attempts++
	f.last = a.err
	if a.err == nil {
		return nil, true // a success is definite, whatever came before
	}
	if !f.req.mutation {
		if Retryable(a.err) {
			return nil, false
		}
		return a.err, true
	}
	if f.ambiguous != nil {
		switch {
		case rpcstatus.Stored(a.err):
			// The ledger decided under this key; every retry gets the
			// same refusal, so it is the outcome of the earlier attempt
			// too.
			return a.err, true
		case Retryable(a.err):
			return nil, false
		default:
			// A refusal not stored under the key (WRONG_CELL, NOT_FOUND,
			// INVALID_ARGUMENT, ...) describes this attempt only.
			return f.unknown(), true
		}
	}
	// No attempt may have executed so far.
	if Retryable(a.err) {
		if mayHaveExecuted(a) {
			f.ambiguous = a.err
		}
		return nil, false
	}
	if a.sent && !businessCode(status.Code(a.err)) {
		// INTERNAL, UNKNOWN, DATA_LOSS, a cancellation: the node may have
		// applied the command before it failed to answer.
		f.ambiguous = a.err
		return f.unknown(), true
	}
	// A business error before anything may have executed: the request's
	// answer, at once, as always.
	return a.err, true
}

// atDeadline is the answer when the deadline passed (or the caller left)
// before a final one came.
func (f *finality) atDeadline() error {
	if f.req.mutation && f.ambiguous != nil {
		return f.unknown()
	}
	// Never the last error's own code: a NOT_FOUND / CELL_NOT_HOSTED
	// (a replica still starting) would read as "no such account".
	what := "no answer"
	if f.req.mutation {
		what = "not executed: no attempt reached a node that could execute it"
	}
	return status.Errorf(codes.Unavailable, "router: cell %d: %s before the deadline (%d attempts); last error: %s",
		f.req.cellID, what, f.attempts, describeError(f.last))
}

// unknown is the OUTCOME_UNKNOWN answer: it carries the key to retry with
// and the cell, in the ErrorInfo, so that callers need not parse the text.
func (f *finality) unknown() error {
	msg := fmt.Sprintf("router: cell %d: %s with key %q: the outcome is unknown, an attempt may have executed (%s); "+
		"retry with the same key, never a new one; last error: %s",
		f.req.cellID, f.req.op, f.req.key, describeError(f.ambiguous), describeError(f.last))
	return rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, msg, map[string]string{
		rpcstatus.MetaCellID:         strconv.FormatUint(f.req.cellID, 10),
		rpcstatus.MetaIdempotencyKey: f.req.key,
	})
}

// mayHaveExecuted reports whether a mutation attempt that ended with a
// Retryable error may have executed. Only an attempt that was sent can
// have, and not one refused by a node before it proposed anything.
func mayHaveExecuted(a attemptOutcome) bool {
	if !a.sent {
		return false
	}
	switch rpcstatus.Reason(a.err) {
	case rpcstatus.ReasonNotLeader, rpcstatus.ReasonCellNotHosted:
		// The cell service answers these before proposing: a node without
		// the cell's group, or a group that is not the leader
		// (replication.Group.Apply: NotLeaderError means not proposed).
		return false
	}
	return true // a timeout, a broken connection, OUTCOME_UNKNOWN, overload
}

// businessCode reports whether code is an answer about the request itself
// (the ledger's or a node's refusal), rather than a failure to answer.
func businessCode(code codes.Code) bool {
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition,
		codes.OutOfRange, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return true
	}
	return false
}

// IsOutcomeUnknown reports whether err is an OUTCOME_UNKNOWN answer.
func IsOutcomeUnknown(err error) bool {
	return err != nil && rpcstatus.Reason(err) == rpcstatus.ReasonOutcomeUnknown
}

// describeError is an error's code, reason and message, for messages.
func describeError(err error) string {
	if err == nil {
		return "none"
	}
	s := status.Convert(err)
	if r := rpcstatus.Reason(err); r != "" {
		return fmt.Sprintf("%s %s: %s", s.Code(), r, s.Message())
	}
	return fmt.Sprintf("%s: %s", s.Code(), s.Message())
}
