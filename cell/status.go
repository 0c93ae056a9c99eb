package cell

import (
	"errors"
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

// Reasons carried in ErrorInfo besides the ledger's ErrorReason values.
const (
	ReasonNotLeader           = "NOT_LEADER"
	ReasonOutcomeUnknown      = "OUTCOME_UNKNOWN"
	ReasonWrongCell           = "WRONG_CELL"
	ReasonCellNotHosted       = "CELL_NOT_HOSTED"
	ReasonCrossCellNotEnabled = "CROSS_CELL_NOT_SUPPORTED"
	ReasonPayoutsNotEnabled   = "PAYOUTS_NOT_ENABLED"
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
)

// ReasonString is the ErrorInfo reason of a ledger ErrorReason.
func ReasonString(r pb.ErrorReason) string {
	return strings.TrimPrefix(r.String(), "ERROR_REASON_")
}

func codeOf(r pb.ErrorReason) codes.Code {
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

// statusError builds a gRPC error with an ErrorInfo.
func statusError(code codes.Code, reason, msg string, meta map[string]string) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}); err == nil {
		st = withInfo
	}
	return st.Err()
}

func ledgerStatus(e *pb.LedgerError, cellID uint64) error {
	meta := map[string]string{MetaCellID: strconv.FormatUint(cellID, 10)}
	if e.GetField() != "" {
		meta[MetaField] = e.GetField()
	}
	return statusError(codeOf(e.GetReason()), ReasonString(e.GetReason()), e.GetMessage(), meta)
}

// storedLedgerStatus is ledgerStatus of a refusal stored under the
// request's idempotency key.
func storedLedgerStatus(e *pb.LedgerError, cellID uint64) error {
	meta := map[string]string{MetaCellID: strconv.FormatUint(cellID, 10), MetaStored: "true"}
	if e.GetField() != "" {
		meta[MetaField] = e.GetField()
	}
	return statusError(codeOf(e.GetReason()), ReasonString(e.GetReason()), e.GetMessage(), meta)
}

// Stored reports whether err is a ledger refusal stored under the request's
// idempotency key: the cell's ledger decided it, and every retry with the
// same key gets the same refusal, so it is the request's final outcome.
// Any other error (a wrong-cell answer from a node's topology view, an
// invalid request, a timeout) says nothing about whether an earlier
// attempt with the same key executed.
func Stored(err error) bool {
	info, ok := ErrorInfo(err)
	return ok && info.GetMetadata()[MetaStored] == "true"
}

// InputStatus is the INVALID_ARGUMENT status of an input error, with the
// field in its ErrorInfo (cellID 0 when no cell is known yet).
func InputStatus(err error, cellID uint64) error { return inputStatus(err, cellID) }

func inputStatus(err error, cellID uint64) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return statusError(codes.InvalidArgument, ReasonString(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT), ie.Error(),
			map[string]string{MetaField: ie.Field, MetaCellID: strconv.FormatUint(cellID, 10)})
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// ErrorInfo extracts the cellpay ErrorInfo of a gRPC error, if any.
func ErrorInfo(err error) (*errdetails.ErrorInfo, bool) {
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
	info, ok := ErrorInfo(err)
	if !ok {
		return ""
	}
	return info.GetReason()
}

// LeaderHint returns the leader named by a NOT_LEADER error.
func LeaderHint(err error) (nodeID, clientAddr string, ok bool) {
	info, found := ErrorInfo(err)
	if !found || info.GetReason() != ReasonNotLeader {
		return "", "", false
	}
	nodeID, clientAddr = info.GetMetadata()[MetaLeaderNodeID], info.GetMetadata()[MetaLeaderClientAddr]
	return nodeID, clientAddr, nodeID != ""
}

// LeaderHintTerm returns the raft term of the leader a NOT_LEADER error
// names (0 when unknown).
func LeaderHintTerm(err error) uint64 {
	info, found := ErrorInfo(err)
	if !found {
		return 0
	}
	term, _ := strconv.ParseUint(info.GetMetadata()[MetaLeaderTerm], 10, 64)
	return term
}

func notLeaderStatus(cellID uint64, leaderID, leaderAddr string, term uint64) error {
	msg := fmt.Sprintf("cell %d: this node is not the leader", cellID)
	if leaderID != "" {
		msg += fmt.Sprintf("; the leader is %s at %s", leaderID, leaderAddr)
	} else {
		msg += "; no leader is known yet"
	}
	return statusError(codes.Unavailable, ReasonNotLeader, msg, map[string]string{
		MetaCellID: strconv.FormatUint(cellID, 10), MetaLeaderNodeID: leaderID, MetaLeaderClientAddr: leaderAddr,
		MetaLeaderTerm: strconv.FormatUint(term, 10),
	})
}

// NotLeaderStatus is the UNAVAILABLE / NOT_LEADER error of group groupID
// (a cell, or another group hosted on the node), naming the leader if known.
func NotLeaderStatus(groupID uint64, leaderID, leaderClientAddr string, term uint64) error {
	return notLeaderStatus(groupID, leaderID, leaderClientAddr, term)
}

// StatusError is a gRPC error with code and an ErrorInfo carrying reason
// and metadata, in the cellpay error domain.
func StatusError(code codes.Code, reason, msg string, meta map[string]string) error {
	return statusError(code, reason, msg, meta)
}
