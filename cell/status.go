package cell

import (
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
)

// The cell's gRPC errors, in the wire vocabulary of api/rpcstatus.

func ledgerStatus(e *pb.LedgerError, cellID uint64) error { return rpcstatus.Ledger(e, cellID, false) }

// storedLedgerStatus is ledgerStatus of a refusal stored under the
// request's idempotency key.
func storedLedgerStatus(e *pb.LedgerError, cellID uint64) error {
	return rpcstatus.Ledger(e, cellID, true)
}

// InputStatus is the INVALID_ARGUMENT status of an input error, with the
// field in its ErrorInfo (cellID 0 when no cell is known yet).
func InputStatus(err error, cellID uint64) error { return inputStatus(err, cellID) }

func inputStatus(err error, cellID uint64) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return rpcstatus.Error(codes.InvalidArgument, rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT), ie.Error(),
			map[string]string{rpcstatus.MetaField: ie.Field, rpcstatus.MetaCellID: strconv.FormatUint(cellID, 10)})
	}
	return status.Error(codes.InvalidArgument, err.Error())
}
