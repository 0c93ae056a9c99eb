package client

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// The caller's payout id goes out on every attempt, with the provider.
func TestPayoutIDReusedAcrossRetries(t *testing.T) {
	f := startFake(t, failFirst(2, cellpayError(codes.Unavailable, "NOT_LEADER", "", "not the leader")))
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	rec, err := c.Payout(context.Background(), "alice", 2000, "CNY", WithPayoutID("po-7"), WithProvider("bank-b"))
	if err != nil {
		t.Fatal(err)
	}
	// PENDING or UNKNOWN is an answer, not an error: the record says so.
	if rec.GetPayoutId() != "po-7" || rec.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN {
		t.Fatalf("record %v", rec)
	}
	calls := f.received()
	if len(calls) != 3 {
		t.Fatalf("want 3 attempts, got %v", calls)
	}
	for i, cl := range calls {
		if cl.method != "Payout" || cl.key != "po-7" {
			t.Fatalf("attempt %d: %+v, want Payout po-7", i+1, cl)
		}
	}
	want := &pb.Payout{PayoutId: "po-7", AccountId: "alice", AmountMinor: 2000, Currency: "CNY", Provider: "bank-b"}
	f.mu.Lock()
	sent := f.lastPayout
	f.mu.Unlock()
	if !proto.Equal(sent, want) {
		t.Fatalf("sent %v, want %v", sent, want)
	}
}

// An ambiguous Payout returns *UnknownOutcomeError carrying the payout
// id, given or generated; resolving it with that id sends the same payout
// again, not a new one.
func TestAmbiguousPayoutCarriesPayoutID(t *testing.T) {
	for name, opts := range map[string][]Option{"given": {WithPayoutID("po-9")}, "generated": nil} {
		t.Run(name, func(t *testing.T) {
			f := startFake(t, hang)
			c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
			_, err := c.Payout(context.Background(), "alice", 2000, "CNY", opts...)
			assertUnknownOutcome(t, err, f)
			var ue *UnknownOutcomeError
			errors.As(err, &ue)
			if ue.Op != "Payout" {
				t.Fatalf("Op %q", ue.Op)
			}
			if name == "given" && ue.Key != "po-9" {
				t.Fatalf("Key %q, want the caller's po-9", ue.Key)
			}
			if name == "generated" && !generatedKey.MatchString(ue.Key) {
				t.Fatalf("Key %q is not a generated id", ue.Key)
			}
			f.setBehaviour(nil)
			rec, err := c.Payout(context.Background(), "alice", 2000, "CNY", WithPayoutID(ue.Key))
			if err != nil || rec.GetPayoutId() != ue.Key {
				t.Fatalf("resolving: %v, %v", rec, err)
			}
			for _, cl := range f.received() {
				if cl.key != ue.Key {
					t.Fatalf("a call carried %q, not the payout id %q", cl.key, ue.Key)
				}
			}
		})
	}
}

func TestBadPayoutIDRejectedLocally(t *testing.T) {
	f := startFake(t, nil)
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	for _, opts := range [][]Option{
		{WithPayoutID("")},
		{WithPayoutID("po/1")},
		{WithPayoutID("po-1"), WithIdempotencyKey("po-2")},
	} {
		_, err := c.Payout(context.Background(), "alice", 1, "CNY", opts...)
		var be *BusinessError
		if !errors.As(err, &be) || be.Code != codes.InvalidArgument || be.Field != "payout_id" {
			t.Fatalf("want INVALID_ARGUMENT naming payout_id, got %v", err)
		}
	}
	if calls := f.received(); len(calls) != 0 {
		t.Fatalf("bad ids were sent: %v", calls)
	}
}

func TestPayoutReads(t *testing.T) {
	f := startFake(t, failFirst(1, cellpayError(codes.Unavailable, "NOT_LEADER", "", "not the leader")))
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	rec, err := c.GetPayout(context.Background(), "po-1", "alice")
	if err != nil || rec.GetPayoutId() != "po-1" || rec.GetAccountId() != "alice" {
		t.Fatalf("GetPayout: %v, %v", rec, err)
	}
	page, err := c.ListPayouts(context.Background(), &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_UNKNOWN, CellId: 2, PageToken: "t0"})
	if err != nil || page.GetPayouts()[0].GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN || page.GetNextPageToken() != "cell-2-after-t0" {
		t.Fatalf("ListPayouts: %v, %v", page, err)
	}
	if _, err := c.ListPayouts(context.Background(), nil); err != nil {
		t.Fatalf("ListPayouts(nil): %v", err)
	}
	notFound := cellpayError(codes.NotFound, "PAYOUT_NOT_FOUND", "payout_id", "no payout po-x")
	f.setBehaviour(always(notFound))
	_, err = c.GetPayout(context.Background(), "po-x", "alice")
	var be *BusinessError
	if !errors.As(err, &be) || be.Reason != "PAYOUT_NOT_FOUND" || be.Field != "payout_id" {
		t.Fatalf("want PAYOUT_NOT_FOUND, got %v", err)
	}
}
