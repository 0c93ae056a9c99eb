package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// cellpayErrorWith is a status with a cellpay ErrorInfo carrying meta.
func cellpayErrorWith(code codes.Code, reason, msg string, meta map[string]string) error {
	withInfo, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "cellpay", Metadata: meta})
	if err != nil {
		panic(err)
	}
	return withInfo.Err()
}

// routerUnknown is the router's answer once one of its attempts may have
// executed: UNAVAILABLE / OUTCOME_UNKNOWN with the key and the cell.
func routerUnknown(key string) error {
	return cellpayErrorWith(codes.Unavailable, "OUTCOME_UNKNOWN", "router: cell 1: Transfer with key \""+key+"\": the outcome is unknown",
		map[string]string{"cell_id": "1", "idempotency_key": key})
}

// firstThen answers the first call with first and every later one with then.
func firstThen(first, then error) behaviour {
	return func(ctx context.Context, _ string, n int) error {
		if n == 1 {
			if first == nil {
				return hang(ctx, "", n)
			}
			return first
		}
		return then
	}
}

// A router answering OUTCOME_UNKNOWN makes a mutation ambiguous: the answer
// is *UnknownOutcomeError with the key, whatever comes later, unless a
// success or a refusal the ledger stored under the key settles it. Never a
// *BusinessError that would invite a retry with a new key.
func TestRouterOutcomeUnknownYieldsUnknownWithKey(t *testing.T) {
	const key = "t-router-unknown"
	wrongCell := cellpayErrorWith(codes.FailedPrecondition, "WRONG_CELL", "from_account_id belongs to cell 2",
		map[string]string{"cell_id": "2", "field": "from_account_id"})
	notFound := cellpayErrorWith(codes.NotFound, "ACCOUNT_NOT_FOUND", "no account bob", map[string]string{"cell_id": "1"})
	held := cellpayErrorWith(codes.FailedPrecondition, "ACCOUNT_HELD", "retry later", map[string]string{"cell_id": "1"})
	storedFunds := cellpayErrorWith(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "balance 100 < 500",
		map[string]string{"cell_id": "1", "stored": "true"})
	for _, tc := range []struct {
		name       string
		behave     behaviour
		wantReason string // "": *UnknownOutcomeError with the key; else a *BusinessError with this reason
	}{
		{"OUTCOME_UNKNOWN until the deadline", always(routerUnknown(key)), ""},
		{"OUTCOME_UNKNOWN then WRONG_CELL not stored", firstThen(routerUnknown(key), wrongCell), ""},
		{"OUTCOME_UNKNOWN then ACCOUNT_NOT_FOUND not stored", firstThen(routerUnknown(key), notFound), ""},
		{"OUTCOME_UNKNOWN then ACCOUNT_HELD not stored", firstThen(routerUnknown(key), held), ""},
		{"OUTCOME_UNKNOWN with a business code", always(cellpayErrorWith(codes.FailedPrecondition, "OUTCOME_UNKNOWN", "maybe",
			map[string]string{"idempotency_key": key})), ""},
		{"hang past the attempt timeout then WRONG_CELL", firstThen(nil, wrongCell), ""},
		{"OUTCOME_UNKNOWN then a stored refusal", firstThen(routerUnknown(key), storedFunds), "INSUFFICIENT_FUNDS"},
		{"a first refusal, nothing ambiguous before", always(notFound), "ACCOUNT_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.behave)
			cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
			cfg.Deadline, cfg.AttemptTimeout = 400*time.Millisecond, 100*time.Millisecond
			c := newTestClient(t, cfg)
			_, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY", WithTransferID(key))
			if tc.wantReason != "" {
				var be *BusinessError
				if !errors.As(err, &be) || be.Reason != tc.wantReason {
					t.Fatalf("want *BusinessError %s, got %T %v", tc.wantReason, err, err)
				}
				return
			}
			assertUnknownOutcome(t, err, f)
			var ue *UnknownOutcomeError
			if errors.As(err, &ue); ue.Key != key {
				t.Fatalf("UnknownOutcomeError names key %q, want %q", ue.Key, key)
			}
		})
	}
}
