package rpcstatus

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// ErrorDomain is the ErrorInfo domain of every cellpay error.
const ErrorDomain = "cellpay"

// Reasons carried in ErrorInfo besides the ledger's ErrorReason values
// (ReasonString names those).
const (
	ReasonNotLeader           = "NOT_LEADER"
	ReasonOutcomeUnknown      = "OUTCOME_UNKNOWN"
	ReasonWrongCell           = "WRONG_CELL"
	ReasonCellNotHosted       = "CELL_NOT_HOSTED"
	ReasonCrossCellNotEnabled = "CROSS_CELL_NOT_SUPPORTED"
	ReasonPayoutsNotEnabled   = "PAYOUTS_NOT_ENABLED"
	// ReasonStaleTerm: a controller of an earlier meta term was refused.
	ReasonStaleTerm = "STALE_TERM"
	// ReasonDrillRefused: the drill was not started (nothing changed).
	ReasonDrillRefused = "DRILL_REFUSED"
	// ReasonDrillBusy: another drill is running.
	ReasonDrillBusy = "DRILL_RUNNING"
	// ReasonDrillOutcomeUnknown: recording the drill's start in the meta
	// group had no known outcome: the drill may be running. Ask for its
	// status before starting it again.
	ReasonDrillOutcomeUnknown = "DRILL_OUTCOME_UNKNOWN"
)

// Metadata keys of ErrorInfo.
const (
	MetaField            = "field"
	MetaCellID           = "cell_id"
	MetaLeaderNodeID     = "leader_node_id"
	MetaLeaderClientAddr = "leader_client_addr"
	MetaLeaderTerm       = "leader_term"
	// MetaStored is "true" on a ledger refusal that the cell stored under
	// the request's idempotency key (see Stored).
	MetaStored = "stored"
	// MetaIdempotencyKey is the request's idempotency key (a transfer's
	// id) on an OUTCOME_UNKNOWN answer: the key to retry with.
	MetaIdempotencyKey = "idempotency_key"
	// MetaControllerTerm and MetaControllerTermMax are on STALE_TERM: the
	// refused controller's term and the newest term the meta group knows.
	MetaControllerTerm    = "controller_term"
	MetaControllerTermMax = "controller_term_max"
)

// ReasonString is the ErrorInfo reason of a ledger ErrorReason.
func ReasonString(r pb.ErrorReason) string {
	return strings.TrimPrefix(r.String(), "ERROR_REASON_")
}

// CodeOf is the gRPC code a ledger refusal is answered with.
func CodeOf(r pb.ErrorReason) codes.Code {
	switch r {
	case pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, pb.ErrorReason_ERROR_REASON_SAME_ACCOUNT:
		return codes.InvalidArgument
	case pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND, pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND:
		return codes.NotFound
	case pb.ErrorReason_ERROR_REASON_ACCOUNT_EXISTS:
		return codes.AlreadyExists
	default: // insufficient funds, currency mismatch, overflow, key reused, unknown provider, account held (retry later)
		return codes.FailedPrecondition
	}
}

// Error is a gRPC error with code and an ErrorInfo carrying reason and
// metadata, in the cellpay error domain.
func Error(code codes.Code, reason, msg string, meta map[string]string) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// Ledger is the error of a ledger refusal in cell cellID; stored says the
// cell stored it under the request's idempotency key (see Stored).
func Ledger(e *pb.LedgerError, cellID uint64, stored bool) error {
	meta := map[string]string{MetaCellID: strconv.FormatUint(cellID, 10)}
	if stored {
		meta[MetaStored] = "true"
	}
	if e.GetField() != "" {
		meta[MetaField] = e.GetField()
	}
	return Error(CodeOf(e.GetReason()), ReasonString(e.GetReason()), e.GetMessage(), meta)
}

// Stored reports whether err is a ledger refusal stored under the request's
// idempotency key: the cell's ledger decided it, and every retry with the
// same key gets the same refusal, so it is the request's final outcome.
// Any other error (a wrong-cell answer from a node's topology view, an
// invalid request, a timeout) says nothing about whether an earlier
// attempt with the same key executed.
func Stored(err error) bool {
	info, ok := Info(err)
	return ok && info.GetMetadata()[MetaStored] == "true"
}

// Info extracts the cellpay ErrorInfo of a gRPC error, if any.
func Info(err error) (*errdetails.ErrorInfo, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info, true
		}
	}
	return nil, false
}

// Reason returns the machine-readable reason of a cellpay gRPC error ("" if none).
func Reason(err error) string {
	info, ok := Info(err)
	if !ok {
		return ""
	}
	return info.GetReason()
}

// LeaderHint returns the leader named by a NOT_LEADER error.
func LeaderHint(err error) (nodeID, clientAddr string, ok bool) {
	info, found := Info(err)
	if !found || info.GetReason() != ReasonNotLeader {
		return "", "", false
	}
	nodeID, clientAddr = info.GetMetadata()[MetaLeaderNodeID], info.GetMetadata()[MetaLeaderClientAddr]
	return nodeID, clientAddr, nodeID != ""
}

// LeaderHintTerm returns the raft term of the leader a NOT_LEADER error
// names (0 when unknown).
func LeaderHintTerm(err error) uint64 {
	info, found := Info(err)
	if !found {
		return 0
	}
	term, _ := strconv.ParseUint(info.GetMetadata()[MetaLeaderTerm], 10, 64)
	return term
}

// NotLeader is the UNAVAILABLE / NOT_LEADER error of group groupID (a
// cell, or another group hosted on the node), naming the leader if known.
func NotLeader(groupID uint64, leaderID, leaderClientAddr string, term uint64) error {
	msg := fmt.Sprintf("cell %d: this node is not the leader", groupID)
	if leaderID != "" {
		msg += fmt.Sprintf("; the leader is %s at %s", leaderID, leaderClientAddr)
	} else {
		msg += "; no leader is known yet"
	}
	return Error(codes.Unavailable, ReasonNotLeader, msg, map[string]string{
		MetaCellID: strconv.FormatUint(groupID, 10), MetaLeaderNodeID: leaderID, MetaLeaderClientAddr: leaderClientAddr,
		MetaLeaderTerm: strconv.FormatUint(term, 10),
	})
}
