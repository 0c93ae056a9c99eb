package client

import (
	"context"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var generatedKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// The same generated key goes out on every retry, for each mutation.
func TestGeneratedKeyReusedAcrossRetries(t *testing.T) {
	notLeader := cellpayError(codes.Unavailable, "NOT_LEADER", "", "cell 1: this node is not the leader")
	mutations := map[string]func(*Client) (string, error){
		"Transfer": func(c *Client) (string, error) {
			rec, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY")
			return rec.GetTransferId(), err
		},
		"Deposit": func(c *Client) (string, error) {
			rec, err := c.Deposit(context.Background(), "alice", 500, "CNY", "bank-1")
			return rec.GetIdempotencyKey(), err
		},
		"Payout": func(c *Client) (string, error) {
			rec, err := c.Payout(context.Background(), "alice", 500, "CNY")
			return rec.GetPayoutId(), err
		},
		"CreateAccount": func(c *Client) (string, error) {
			_, err := c.CreateAccount(context.Background(), "alice", "CNY")
			return "", err
		},
	}
	for name, run := range mutations {
		t.Run(name, func(t *testing.T) {
			f := startFake(t, failFirst(2, notLeader))
			c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
			gotKey, err := run(c)
			if err != nil {
				t.Fatalf("want success after 2 NOT_LEADER, got %v", err)
			}
			calls := f.received()
			if len(calls) != 3 {
				t.Fatalf("want 3 attempts, got %d: %v", len(calls), calls)
			}
			key := calls[0].key
			if !generatedKey.MatchString(key) {
				t.Fatalf("generated key %q is not 128 bits of hex", key)
			}
			for i, cl := range calls {
				if cl.key != key {
					t.Fatalf("attempt %d carried key %q, attempt 1 carried %q", i+1, cl.key, key)
				}
			}
			if gotKey != "" && gotKey != key {
				t.Fatalf("response key %q, sent %q", gotKey, key)
			}
		})
	}
}

// Two calls without a key get two different keys: a key is per logical
// operation, not per client.
func TestGeneratedKeysDifferPerOperation(t *testing.T) {
	f := startFake(t, nil)
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	for range 2 {
		if _, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY"); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.received()
	if calls[0].key == calls[1].key {
		t.Fatalf("two operations shared key %q", calls[0].key)
	}
}

// A business error is answered once, never retried, and keeps its reason
// and field.
func TestBusinessErrorNotRetried(t *testing.T) {
	cases := []struct {
		code          codes.Code
		reason, field string
	}{
		{codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "amount_minor"},
		{codes.InvalidArgument, "INVALID_ARGUMENT", "currency"},
		{codes.NotFound, "ACCOUNT_NOT_FOUND", "to_account_id"},
		{codes.AlreadyExists, "ACCOUNT_EXISTS", ""},
		{codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED", "transfer_id"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			f := startFake(t, always(cellpayError(tc.code, tc.reason, tc.field, "refused by the ledger")))
			c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
			_, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY")
			var be *BusinessError
			if !errors.As(err, &be) {
				t.Fatalf("want *BusinessError, got %T %v", err, err)
			}
			if be.Code != tc.code || be.Reason != tc.reason || be.Field != tc.field || be.Message != "refused by the ledger" {
				t.Fatalf("got %+v", be)
			}
			if status.Code(err) != tc.code {
				t.Fatalf("status.Code = %v, want %v", status.Code(err), tc.code)
			}
			if errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("a business error must not look unknown or unavailable: %v", err)
			}
			if n := len(f.received()); n != 1 {
				t.Fatalf("business error retried: %d calls", n)
			}
		})
	}
}

// Every "no answer yet" code is retried with the same key until success.
func TestRetryableCodesRetried(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.Unavailable, "router: no answer"),
		cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "maybe"),
		status.Error(codes.DeadlineExceeded, "router: deadline"),
		status.Error(codes.Aborted, "conflict"),
		status.Error(codes.ResourceExhausted, "too many in flight"),
	} {
		t.Run(status.Code(err).String(), func(t *testing.T) {
			f := startFake(t, failFirst(1, err))
			c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
			if _, err := c.Deposit(context.Background(), "alice", 1, "CNY", "ref", WithIdempotencyKey("dep-1")); err != nil {
				t.Fatalf("want success on retry, got %v", err)
			}
			calls := f.received()
			if len(calls) != 2 || calls[0].key != "dep-1" || calls[1].key != "dep-1" {
				t.Fatalf("calls %v", calls)
			}
		})
	}
}

// OUTCOME_UNKNOWN until the deadline: the caller gets the key and an error
// that says "unknown", never a plain failure (incident 2).
func TestAmbiguousOutcomeReturnsUnknownWithKey(t *testing.T) {
	f := startFake(t, always(cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "cell 1: may have executed")))
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	cfg.Deadline = 300 * time.Millisecond
	c := newTestClient(t, cfg)
	start := time.Now()
	_, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY")
	assertUnknownOutcome(t, err, f)
	if took := time.Since(start); took > cfg.Deadline+200*time.Millisecond {
		t.Fatalf("took %s, deadline %s", took, cfg.Deadline)
	}
}

// A router that hangs past the attempt timeout: the request was sent, so
// the outcome is unknown.
func TestHangPastAttemptTimeoutReturnsUnknown(t *testing.T) {
	f := startFake(t, hang)
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	cfg.Deadline, cfg.AttemptTimeout = 500*time.Millisecond, 100*time.Millisecond
	c := newTestClient(t, cfg)
	_, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY")
	assertUnknownOutcome(t, err, f)
}

// The caller's own (shorter) context deadline wins and still yields
// UnknownOutcomeError after a sent attempt.
func TestContextDeadlineWins(t *testing.T) {
	f := startFake(t, hang)
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Transfer(ctx, "alice", "bob", 500, "CNY", WithTransferID("t-ctx"))
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Fatalf("took %s with a 150ms context", took)
	}
	assertUnknownOutcome(t, err, f)
}

// INTERNAL after a sent mutation is not retried, and not a plain failure.
func TestInternalAfterSentIsUnknown(t *testing.T) {
	f := startFake(t, always(status.Error(codes.Internal, "boom")))
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	_, err := c.Deposit(context.Background(), "alice", 1, "CNY", "ref")
	assertUnknownOutcome(t, err, f)
	if n := len(f.received()); n != 1 {
		t.Fatalf("INTERNAL retried: %d calls", n)
	}
}

func assertUnknownOutcome(t *testing.T, err error, f *fakeRouter) {
	t.Helper()
	var ue *UnknownOutcomeError
	if !errors.As(err, &ue) {
		t.Fatalf("want *UnknownOutcomeError, got %T %v", err, err)
	}
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("errors.Is(err, ErrOutcomeUnknown) is false: %v", err)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatalf("an unknown outcome must not read as unavailable: %v", err)
	}
	var be *BusinessError
	if errors.As(err, &be) {
		t.Fatalf("an unknown outcome must not read as a business error: %v", err)
	}
	calls := f.received()
	if len(calls) == 0 {
		t.Fatal("no attempt reached the fake")
	}
	for _, cl := range calls {
		if cl.key != ue.Key {
			t.Fatalf("error names key %q, an attempt carried %q", ue.Key, cl.key)
		}
	}
	if ue.Last == nil {
		t.Fatal("UnknownOutcomeError without its last error")
	}
}

// Nothing listens: no attempt could reach a router, so the mutation did
// not execute and the answer is ErrUnavailable, for mutations and reads.
func TestNothingReachableIsUnavailable(t *testing.T) {
	cfg := testConfig(map[string][]string{"hangzhou": {deadAddr(t)}, "shanghai": {deadAddr(t), deadAddr(t)}})
	cfg.Deadline = 300 * time.Millisecond
	c := newTestClient(t, cfg)
	_, err := c.Transfer(context.Background(), "alice", "bob", 500, "CNY")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Transfer: want ErrUnavailable only, got %v", err)
	}
	_, err = c.GetAccount(context.Background(), "alice")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("GetAccount: want ErrUnavailable, got %v", err)
	}
}

// A read whose answers never come is ErrUnavailable, not unknown: reads
// change nothing.
func TestReadDeadlineIsUnavailable(t *testing.T) {
	f := startFake(t, always(cellpayError(codes.Unavailable, "NOT_LEADER", "", "no leader")))
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	cfg.Deadline = 400 * time.Millisecond
	c := newTestClient(t, cfg)
	_, err := c.GetTransfer(context.Background(), "t1", "alice")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if n := len(f.received()); n < 2 {
		t.Fatalf("read not retried: %d calls (%v)", n, err)
	}
}

// Reads succeed after retries and return the router's answer.
func TestReads(t *testing.T) {
	f := startFake(t, failFirst(1, status.Error(codes.Unavailable, "blip")))
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	ctx := context.Background()
	acct, err := c.GetAccount(ctx, "alice")
	if err != nil || acct.GetId() != "alice" {
		t.Fatalf("GetAccount: %v %v", acct, err)
	}
	tr, err := c.GetTransfer(ctx, "t1", "alice")
	if err != nil || tr.GetTransferId() != "t1" {
		t.Fatalf("GetTransfer: %v %v", tr, err)
	}
	page, err := c.ListTransfers(ctx, "alice", 10, "")
	if err != nil || len(page.GetTransfers()) != 1 {
		t.Fatalf("ListTransfers: %v %v", page, err)
	}
	f.setBehaviour(always(cellpayError(codes.NotFound, "ACCOUNT_NOT_FOUND", "account_id", "no such account")))
	_, err = c.GetAccount(ctx, "nobody")
	var be *BusinessError
	if !errors.As(err, &be) || be.Reason != "ACCOUNT_NOT_FOUND" {
		t.Fatalf("want ACCOUNT_NOT_FOUND, got %v", err)
	}
}

// The caller's key is sent as is, on every attempt.
func TestUserKeyHonoured(t *testing.T) {
	f := startFake(t, failFirst(1, cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "maybe")))
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	ctx := context.Background()
	rec, err := c.Transfer(ctx, "alice", "bob", 500, "CNY", WithTransferID("payout-2024-06-01:alice"))
	if err != nil || rec.GetTransferId() != "payout-2024-06-01:alice" {
		t.Fatalf("Transfer: %v %v", rec, err)
	}
	if _, err := c.Deposit(ctx, "alice", 1, "CNY", "ref", WithIdempotencyKey("dep.7")); err != nil {
		t.Fatal(err)
	}
	acct, err := c.CreateAccount(ctx, "carol", "CNY", WithIdempotencyKey("acct_carol"), WithAllowNegativeBalance())
	if err != nil || !acct.GetAllowNegativeBalance() {
		t.Fatalf("CreateAccount: %v %v", acct, err)
	}
	// On a Transfer, WithIdempotencyKey is the transfer id too: a key the
	// caller gave is never silently replaced.
	if _, err := c.Transfer(ctx, "alice", "bob", 1, "CNY", WithIdempotencyKey("t-by-key")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, cl := range f.received() {
		keys = append(keys, cl.key)
	}
	// The fake fails the first call of each method once.
	want := []string{"payout-2024-06-01:alice", "payout-2024-06-01:alice", "dep.7", "dep.7", "acct_carol", "acct_carol", "t-by-key"}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
}

// A bad or conflicting key fails before any RPC, naming the field.
func TestBadUserKeyRejectedLocally(t *testing.T) {
	f := startFake(t, nil)
	c := newTestClient(t, testConfig(map[string][]string{"hangzhou": {f.addr}}))
	ctx := context.Background()
	for name, run := range map[string]func() error{
		"empty": func() error {
			_, err := c.Transfer(ctx, "a", "b", 1, "CNY", WithTransferID(""))
			return err
		},
		"slash": func() error {
			_, err := c.Deposit(ctx, "a", 1, "CNY", "r", WithIdempotencyKey("a/b"))
			return err
		},
		"too long": func() error {
			_, err := c.CreateAccount(ctx, "a", "CNY", WithIdempotencyKey(string(make([]byte, 129))))
			return err
		},
		"conflict": func() error {
			_, err := c.Transfer(ctx, "a", "b", 1, "CNY", WithTransferID("x"), WithIdempotencyKey("y"))
			return err
		},
	} {
		err := run()
		var be *BusinessError
		if !errors.As(err, &be) || be.Code != codes.InvalidArgument || be.Field == "" {
			t.Fatalf("%s: want INVALID_ARGUMENT naming a field, got %v", name, err)
		}
	}
	if n := len(f.received()); n != 0 {
		t.Fatalf("%d RPCs sent for invalid keys", n)
	}
}

// Config.Dialer carries every connection.
func TestDialerUsed(t *testing.T) {
	f := startFake(t, nil)
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	dials := make(chan string, 10)
	cfg.Dialer = func(ctx context.Context, addr string) (net.Conn, error) {
		dials <- addr
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c := newTestClient(t, cfg)
	if _, err := c.GetAccount(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case addr := <-dials:
		if addr != f.addr {
			t.Fatalf("dialed %q, want %q", addr, f.addr)
		}
	default:
		t.Fatal("Dialer not used")
	}
}

// A connection that never comes up (the dial hangs, like a black-holed
// SYN) times attempts out before anything is sent: ErrUnavailable, not
// unknown.
func TestConnectTimeoutIsUnavailable(t *testing.T) {
	cfg := testConfig(map[string][]string{"hangzhou": {"127.0.0.1:1"}})
	cfg.Deadline, cfg.AttemptTimeout = 400*time.Millisecond, 100*time.Millisecond
	cfg.Dialer = func(ctx context.Context, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c := newTestClient(t, cfg)
	_, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

// Once an attempt was ambiguous, later refused connections do not make the
// outcome known: still UnknownOutcomeError.
func TestAmbiguousThenUnreachableStaysUnknown(t *testing.T) {
	answered := make(chan struct{}, 1)
	f := startFake(t, func(_ context.Context, _ string, n int) error {
		if n == 1 {
			answered <- struct{}{}
		}
		return cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "may have executed")
	})
	cfg := testConfig(map[string][]string{"hangzhou": {f.addr}})
	cfg.Deadline = 500 * time.Millisecond
	c := newTestClient(t, cfg)
	done := make(chan error, 1)
	go func() {
		_, err := c.Transfer(context.Background(), "alice", "bob", 1, "CNY", WithTransferID("t-amb"))
		done <- err
	}()
	<-answered
	f.stop()
	err := <-done
	assertUnknownOutcome(t, err, f)
	var ue *UnknownOutcomeError
	if errors.As(err, &ue); ue.Key != "t-amb" {
		t.Fatalf("key %q", ue.Key)
	}
}
