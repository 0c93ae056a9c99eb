package client

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Close stops the prober and the connections: no goroutine outlives it,
// and later operations fail with ErrClosed.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	f := startFake(t, nil)
	time.Sleep(50 * time.Millisecond) // let the fake's own goroutines settle
	before := runtime.NumGoroutine()

	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}, "shanghai": {deadAddr(t)}})
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	// An unhealthy router keeps the prober busy.
	c.routers.markUnhealthy(c.routers.inRegion["shanghai"][0], errors.New("test"))
	time.Sleep(3 * cfg.ProbeInterval)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	eventually(t, 5*time.Second, "goroutines end after Close", func() bool { return runtime.NumGoroutine() <= before })

	_, err = c.Transfer(context.Background(), "alice", "bob", 1, "CNY")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: want ErrClosed, got %v", err)
	}
}

// Close during a hanging mutation: the attempt was sent, so the caller is
// told the outcome is unknown, promptly.
func TestCloseDuringSentMutationIsUnknown(t *testing.T) {
	f := startFake(t, hang)
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	cfg.Deadline, cfg.AttemptTimeout = 5*time.Second, 2*time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY", WithTransferID("t-close"))
		done <- err
	}()
	eventually(t, 2*time.Second, "the transfer reaches the fake", func() bool { return len(f.received()) > 0 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		assertUnknownOutcome(t, err, f)
	case <-time.After(2 * time.Second):
		t.Fatal("Transfer still running 2s after Close")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want class
	}{
		{status.Error(codes.Unavailable, "x"), classRetry},
		{cellpayError(codes.Unavailable, "NOT_LEADER", "", "x"), classRetry},
		{cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "x"), classRetry},
		{status.Error(codes.DeadlineExceeded, "x"), classRetry},
		{status.Error(codes.Aborted, "x"), classRetry},
		{status.Error(codes.ResourceExhausted, "x"), classRetry},
		{status.Error(codes.Canceled, "x"), classRetry},
		{cellpayError(codes.InvalidArgument, "INVALID_ARGUMENT", "currency", "x"), classBusiness},
		{cellpayError(codes.NotFound, "ACCOUNT_NOT_FOUND", "", "x"), classBusiness},
		{cellpayError(codes.AlreadyExists, "ACCOUNT_EXISTS", "", "x"), classBusiness},
		{cellpayError(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "", "x"), classBusiness},
		{status.Error(codes.Unimplemented, "x"), classBusiness},
		{status.Error(codes.Internal, "x"), classNoAnswer},
		{status.Error(codes.Unknown, "x"), classNoAnswer},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	// Only a reason-less UNAVAILABLE, a closed connection or an attempt
	// timeout blame the router.
	if !transportFailure(status.Error(codes.Unavailable, "connection refused"), false, true) {
		t.Error("reason-less UNAVAILABLE must blame the router")
	}
	if transportFailure(cellpayError(codes.Unavailable, "NOT_LEADER", "", "x"), false, true) {
		t.Error("NOT_LEADER must not blame the router")
	}
	if !transportFailure(status.Error(codes.DeadlineExceeded, "x"), true, true) {
		t.Error("an attempt timeout must blame the router")
	}
	if transportFailure(status.Error(codes.Canceled, "x"), false, false) {
		t.Error("the caller's cancel must not blame the router")
	}
}
