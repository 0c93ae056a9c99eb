package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/stats"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// attemptsMax is a safety net on the attempts of one operation; the
// deadline is the bound that normally ends the loop (10 s of 20-500 ms
// backoff is well under 100 attempts).
const attemptsMax = 1000

// operation describes one logical call for the retry loop.
type operation struct {
	name     string // e.g. "Transfer"
	mutation bool
	key      string // the idempotency key of a mutation
}

// attemptTrace records, through the connection's stats handler, whether
// an attempt's request headers went onto a connection: only then can the
// server have seen it.
type attemptTrace struct{ sent atomic.Bool }

type attemptTraceKey struct{}

// sentTracker is the gRPC stats handler that fills attemptTrace. gRPC
// reports OutHeader once the stream exists on a transport, before the
// request message can be written: no OutHeader, no request on the wire.
type sentTracker struct{}

func (sentTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (sentTracker) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutHeader); !ok {
		return
	}
	if t, ok := ctx.Value(attemptTraceKey{}).(*attemptTrace); ok {
		t.sent.Store(true)
	}
}

func (sentTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (sentTracker) HandleConn(context.Context, stats.ConnStats) {}

// attemptResult is the outcome of one RPC attempt.
type attemptResult struct {
	err      error
	sent     bool // the request may have reached the router
	timedOut bool // the attempt's own timeout fired
}

func (c *Client) attempt(ctx context.Context, r *router, call func(context.Context, pb.PaymentsClient) error) attemptResult {
	trace := &attemptTrace{}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptTraceKey{}, trace), c.cfg.AttemptTimeout)
	defer cancel()
	err := call(actx, r.payments)
	return attemptResult{
		err:      err,
		sent:     trace.sent.Load(),
		timedOut: err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil,
	}
}

// do runs call until it gets an answer, the operation's deadline passes or
// the client closes. See the package documentation for the rules.
func (c *Client) do(ctx context.Context, op operation, call func(context.Context, pb.PaymentsClient) error) error {
	if c.closed.Load() {
		return fmt.Errorf("client: %s: %w", op.name, ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	var (
		last      error
		ambiguous bool // a mutation attempt was sent and got no answer
		attempts  int
		backoff   = c.cfg.BackoffMin
		// Immediate retries on another router after a transport failure;
		// at most one per router, so a flapping set still backs off.
		switchesLeft = len(c.routers.all)
	)
	for attempts < attemptsMax {
		if c.closed.Load() {
			last = errors.Join(ErrClosed, last)
			break
		}
		attempts++
		r := c.routers.pick()
		res := c.attempt(ctx, r, call)
		if res.err == nil {
			c.routers.markHealthy(r, "answer")
			return nil
		}
		last = res.err
		switch classify(res.err) {
		case classBusiness:
			c.routers.markHealthy(r, "answer")
			if op.mutation && ambiguous && !storedRefusal(res.err) {
				// An earlier attempt may have executed; a refusal the
				// ledger did not store under the key describes this
				// attempt only, so it is no answer about that one.
				return c.unknownOutcome(op, attempts, res.err)
			}
			return newBusinessError(op.name, res.err)
		case classNoAnswer:
			if op.mutation && (res.sent || ambiguous) {
				return c.unknownOutcome(op, attempts, res.err)
			}
			return fmt.Errorf("client: %s: %w", op.name, res.err)
		}
		// An OUTCOME_UNKNOWN answer was necessarily sent, whatever the
		// trace says.
		if op.mutation && (res.sent || outcomeUnknown(res.err)) {
			ambiguous = true
		}
		switched := false
		if transportFailure(res.err, res.timedOut, ctx.Err() == nil) {
			c.routers.markUnhealthy(r, res.err)
			switched = c.routers.anyHealthy()
		}
		c.log.Debug("client: attempt failed", "op", op.name, "key", op.key, "attempt", attempts,
			"region", r.region, "addr", r.addr, "sent", res.sent, "err", res.err)
		if ctx.Err() != nil {
			break
		}
		if switched && switchesLeft > 0 {
			switchesLeft--
			continue // another router is believed healthy: go there at once
		}
		if !c.sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
			break
		}
		backoff = min(2*backoff, c.cfg.BackoffMax)
	}
	if ambiguous {
		return c.unknownOutcome(op, attempts, last)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("client: %s: %w after %d attempts (%w); last error: %w", op.name, ErrUnavailable, attempts, err, last)
	}
	return fmt.Errorf("client: %s: %w after %d attempts; last error: %w", op.name, ErrUnavailable, attempts, last)
}

func (c *Client) unknownOutcome(op operation, attempts int, last error) error {
	c.log.Warn("client: outcome unknown; resolve by retrying with the same key", "op", op.name, "key", op.key,
		"attempts", attempts, "err", last)
	return &UnknownOutcomeError{Op: op.name, Key: op.key, Last: last}
}

// sleep waits d, and reports false if ctx ended or the client closed first.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.life.Done():
		return false
	}
}
