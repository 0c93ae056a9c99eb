package forward

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
)

// foldAttempts is Forwarder.forward without the I/O: it feeds attempts to
// finality in order and returns the answer and the index of the attempt
// that made it final (-1: none did, the deadline passed after the last).
func foldAttempts(req forwardRequest, attempts []attemptOutcome) (error, int) {
	f := finality{req: req}
	for i, a := range attempts {
		if answer, final := f.add(a); final {
			return answer, i
		}
	}
	return f.atDeadline(), -1
}

// repeatAttempt repeats an outcome: the same answer until the deadline.
func repeatAttempt(n int, a attemptOutcome) []attemptOutcome {
	out := make([]attemptOutcome, n)
	for i := range out {
		out[i] = a
	}
	return out
}

func attemptSeq(parts ...[]attemptOutcome) []attemptOutcome {
	var out []attemptOutcome
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func singleAttempt(a attemptOutcome) []attemptOutcome { return []attemptOutcome{a} }

// What a fold must answer.
type wantAnswer int

const (
	wantOK          wantAnswer = iota // success
	wantUnknown                       // UNAVAILABLE / OUTCOME_UNKNOWN with the key and cell
	wantUnavailable                   // UNAVAILABLE without a reason: not executed / no answer
	wantAttemptErr                    // the error of the attempt at finalAt, unchanged
)

// Every mix of attempt outcomes: once a mutation attempt may have
// executed, the answer is the definite result or OUTCOME_UNKNOWN with the
// key; before, and for reads, errors are Answered as they were.
func TestFinalityTable(t *testing.T) {
	// Attempt outcomes as the Forwarder sees them.
	var (
		okAttempt = attemptOutcome{sent: true}
		// The attempt's timeout fired after the request was sent.
		sentTimeout = attemptOutcome{err: status.Error(codes.DeadlineExceeded, "context deadline exceeded"), sent: true}
		// The connection broke after the request was sent.
		sentBroken = attemptOutcome{err: status.Error(codes.Unavailable, "error reading from server: EOF"), sent: true}
		// No connection could be made: nothing was sent.
		refused = attemptOutcome{err: status.Error(codes.Unavailable, "connection refused"), sent: false}
		// The dial hung until the attempt's timeout: nothing was sent.
		connectTimeout = attemptOutcome{err: status.Error(codes.DeadlineExceeded, "context deadline exceeded"), sent: false}
		notHosted      = attemptOutcome{err: rpcstatus.Error(codes.NotFound, rpcstatus.ReasonCellNotHosted, "cell 7 is not hosted on node n2",
			map[string]string{rpcstatus.MetaCellID: "7"}), sent: true}
		notLeader   = attemptOutcome{err: rpcstatus.NotLeader(7, "n3", "127.0.0.1:9", 4), sent: true}
		nodeUnknown = attemptOutcome{err: rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, "cell 7: the outcome is unknown",
			map[string]string{rpcstatus.MetaCellID: "7"}), sent: true}
		wrongCell = attemptOutcome{err: rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonWrongCell, "from_account_id belongs to cell 8",
			map[string]string{rpcstatus.MetaCellID: "8", rpcstatus.MetaField: "from_account_id"}), sent: true}
		storedFunds = attemptOutcome{err: rpcstatus.Error(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "balance 100 < 500",
			map[string]string{rpcstatus.MetaCellID: "7", rpcstatus.MetaStored: "true"}), sent: true}
		unstoredFunds = attemptOutcome{err: rpcstatus.Error(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "balance 100 < 500",
			map[string]string{rpcstatus.MetaCellID: "7"}), sent: true}
		heldUnstored = attemptOutcome{err: rpcstatus.Error(codes.FailedPrecondition, "ACCOUNT_HELD", "retry later",
			map[string]string{rpcstatus.MetaCellID: "7"}), sent: true}
		invalidArg = attemptOutcome{err: cell.InputStatus(&cell.InputError{Field: "currency", Reason: "unknown"}, 7), sent: true}
		noAccount  = attemptOutcome{err: rpcstatus.Error(codes.NotFound, "ACCOUNT_NOT_FOUND", "no account bob",
			map[string]string{rpcstatus.MetaCellID: "7"}), sent: true}
		permission = attemptOutcome{err: status.Error(codes.PermissionDenied, "not allowed"), sent: true}
		internal   = attemptOutcome{err: status.Error(codes.Internal, "cell 7: apply returned <nil>"), sent: true}
		// The caller left during the attempt, after it was sent / before.
		canceledSent   = attemptOutcome{err: status.Error(codes.Canceled, "context canceled"), sent: true}
		canceledUnsent = attemptOutcome{err: status.Error(codes.Canceled, "context canceled"), sent: false}
		overloaded     = attemptOutcome{err: status.Error(codes.ResourceExhausted, "too many proposals"), sent: true}
	)
	transfer := forwardRequest{cellID: 7, op: "Transfer", mutation: true, key: "t-42"}
	read := forwardRequest{cellID: 7, op: "GetAccount"}
	for _, tc := range []struct {
		name     string
		req      forwardRequest
		attempts []attemptOutcome
		want     wantAnswer
		finalAt  int // index of the attempt that ends the fold; -1: the deadline
	}{
		// The defect of issue 13 item 3: a replica still starting after a
		// timed-out attempt must not answer NOT_FOUND.
		{"timeout then CELL_NOT_HOSTED until the deadline", transfer, attemptSeq(singleAttempt(sentTimeout), repeatAttempt(20, notHosted)), wantUnknown, -1},
		{"broken connection then CELL_NOT_HOSTED until the deadline", transfer, attemptSeq(singleAttempt(sentBroken), repeatAttempt(5, notHosted)), wantUnknown, -1},
		{"timeout then WRONG_CELL not stored", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(wrongCell), singleAttempt(okAttempt)), wantUnknown, 1},
		{"timeout then stored INSUFFICIENT_FUNDS", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(storedFunds)), wantAttemptErr, 1},
		{"timeout then INSUFFICIENT_FUNDS not stored", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(unstoredFunds)), wantUnknown, 1},
		{"timeout then ACCOUNT_HELD not stored", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(heldUnstored)), wantUnknown, 1},
		{"timeout then INVALID_ARGUMENT", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(invalidArg)), wantUnknown, 1},
		{"timeout then ACCOUNT_NOT_FOUND not stored", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(noAccount)), wantUnknown, 1},
		{"timeout then PERMISSION_DENIED", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(permission)), wantUnknown, 1},
		{"timeout then success", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(okAttempt)), wantOK, 1},
		{"timeout, CELL_NOT_HOSTED, then success", transfer, attemptSeq(singleAttempt(sentTimeout), repeatAttempt(3, notHosted), singleAttempt(okAttempt)), wantOK, 4},
		{"timeout, CELL_NOT_HOSTED, then stored refusal", transfer, attemptSeq(singleAttempt(sentTimeout), repeatAttempt(3, notHosted), singleAttempt(storedFunds)), wantAttemptErr, 4},
		{"timeout then refused connections until the deadline", transfer, attemptSeq(singleAttempt(sentTimeout), repeatAttempt(10, refused)), wantUnknown, -1},
		{"connection refused until the deadline", transfer, repeatAttempt(10, refused), wantUnavailable, -1},
		{"connect timeouts until the deadline", transfer, repeatAttempt(4, connectTimeout), wantUnavailable, -1},
		{"refused then a sent timeout", transfer, attemptSeq(repeatAttempt(3, refused), singleAttempt(sentTimeout)), wantUnknown, -1},
		{"first attempt business error", transfer, attemptSeq(singleAttempt(unstoredFunds), singleAttempt(okAttempt)), wantAttemptErr, 0},
		{"first attempt WRONG_CELL", transfer, singleAttempt(wrongCell), wantAttemptErr, 0},
		{"first attempt stored refusal", transfer, singleAttempt(storedFunds), wantAttemptErr, 0},
		{"refused, then a business error", transfer, attemptSeq(repeatAttempt(2, refused), singleAttempt(invalidArg)), wantAttemptErr, 2},
		{"NOT_LEADER then a business error", transfer, attemptSeq(repeatAttempt(2, notLeader), singleAttempt(noAccount)), wantAttemptErr, 2},
		{"node OUTCOME_UNKNOWN then NOT_LEADER hints until the deadline", transfer, attemptSeq(singleAttempt(nodeUnknown), repeatAttempt(8, notLeader)), wantUnknown, -1},
		{"node OUTCOME_UNKNOWN then success", transfer, attemptSeq(singleAttempt(nodeUnknown), singleAttempt(okAttempt)), wantOK, 1},
		{"NOT_LEADER until the deadline: never proposed", transfer, repeatAttempt(8, notLeader), wantUnavailable, -1},
		{"CELL_NOT_HOSTED until the deadline: never proposed", transfer, repeatAttempt(8, notHosted), wantUnavailable, -1},
		{"overloaded node until the deadline", transfer, repeatAttempt(3, overloaded), wantUnknown, -1},
		{"INTERNAL after sending", transfer, attemptSeq(singleAttempt(internal), singleAttempt(okAttempt)), wantUnknown, 0},
		{"caller left after sending", transfer, singleAttempt(canceledSent), wantUnknown, 0},
		{"caller left before sending", transfer, singleAttempt(canceledUnsent), wantAttemptErr, 0},
		{"timeout then caller left before sending", transfer, attemptSeq(singleAttempt(sentTimeout), singleAttempt(canceledUnsent)), wantUnknown, 1},
		{"success at once", transfer, singleAttempt(okAttempt), wantOK, 0},

		// Reads change nothing: their errors are Answered as they come,
		// but the deadline is never a NOT_FOUND.
		{"read: CELL_NOT_HOSTED until the deadline", read, repeatAttempt(10, notHosted), wantUnavailable, -1},
		{"read: timeout then CELL_NOT_HOSTED until the deadline", read, attemptSeq(singleAttempt(sentTimeout), repeatAttempt(10, notHosted)), wantUnavailable, -1},
		{"read: timeouts until the deadline", read, repeatAttempt(3, sentTimeout), wantUnavailable, -1},
		{"read: timeout then ACCOUNT_NOT_FOUND", read, attemptSeq(singleAttempt(sentTimeout), singleAttempt(noAccount)), wantAttemptErr, 1},
		{"read: NOT_LEADER then success", read, attemptSeq(singleAttempt(notLeader), singleAttempt(okAttempt)), wantOK, 1},
		{"read: INTERNAL", read, singleAttempt(internal), wantAttemptErr, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, at := foldAttempts(tc.req, tc.attempts)
			if at != tc.finalAt {
				t.Errorf("final at attempt %d, want %d (-1: the deadline); answer %v", at, tc.finalAt, got)
			}
			switch tc.want {
			case wantOK:
				if got != nil {
					t.Fatalf("answer %v, want success", got)
				}
			case wantUnknown:
				wantOutcomeUnknown(t, got, tc.req.cellID, tc.req.key)
			case wantUnavailable:
				if status.Code(got) != codes.Unavailable {
					t.Fatalf("answer %v, want UNAVAILABLE", got)
				}
				if _, ok := rpcstatus.Info(got); ok {
					t.Fatalf("answer %v carries an ErrorInfo (reason %q); want a plain UNAVAILABLE", got, rpcstatus.Reason(got))
				}
			case wantAttemptErr:
				if at < 0 || got != tc.attempts[at].err {
					t.Fatalf("answer %v, want attempt %d's own error %v", got, at, tc.attempts[max(at, 0)].err)
				}
			}
		})
	}
}

// wantOutcomeUnknown checks an UNAVAILABLE / OUTCOME_UNKNOWN answer
// carrying the key and the cell.
func wantOutcomeUnknown(t *testing.T, err error, cellID uint64, key string) {
	t.Helper()
	if status.Code(err) != codes.Unavailable || rpcstatus.Reason(err) != rpcstatus.ReasonOutcomeUnknown {
		t.Fatalf("answer %v (code %s, reason %q), want UNAVAILABLE / OUTCOME_UNKNOWN", err, status.Code(err), rpcstatus.Reason(err))
	}
	info, _ := rpcstatus.Info(err)
	if info.GetDomain() != rpcstatus.ErrorDomain {
		t.Fatalf("domain %q, want %q", info.GetDomain(), rpcstatus.ErrorDomain)
	}
	meta := info.GetMetadata()
	if meta[rpcstatus.MetaIdempotencyKey] != key || meta[rpcstatus.MetaCellID] != strconv.FormatUint(cellID, 10) {
		t.Fatalf("metadata %v, want key %q and cell %d", meta, key, cellID)
	}
	if rpcstatus.Stored(err) {
		t.Fatalf("an unknown outcome is marked stored: %v", err)
	}
}
