package router

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
)

// routerMetrics are the router's Prometheus metrics (Config.Metrics);
// docs/METRICS.md lists them with their labels. A nil *routerMetrics
// records nothing. Label values come from fixed sets (the Payments
// methods, the topology's cell ids, cell.OutcomeLabel), never from a
// client's input.
type routerMetrics struct {
	requests *prometheus.CounterVec   // method, cell, outcome
	duration *prometheus.HistogramVec // method, cell
	attempts *prometheus.CounterVec   // cell
	retries  *prometheus.CounterVec   // cell, reason
	hints    *prometheus.CounterVec   // cell
}

// requestSecondsBuckets span a request answered inside one region (a few
// ms) to one that used up the default 5 s deadline.
var requestSecondsBuckets = []float64{0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// The cell label of a request that reached no cell (refused before it was
// forwarded) and of one that went to several (ListPayouts of every cell).
const (
	cellLabelNone = "none"
	cellLabelAll  = "all"
)

// newRouterMetrics registers the router's metrics with reg (nil: none).
func newRouterMetrics(reg prometheus.Registerer) (*routerMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &routerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_router_requests_total",
			Help: "Client requests to the Payments API (gRPC and HTTP) by method, cell (none: refused before forwarding; all: every cell) and outcome (ok, a business error reason, unavailable, unknown, error).",
		}, []string{"method", "cell", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellpay_router_request_duration_seconds",
			Help:    "Time the router took to answer a client request, retries included, by method and cell.",
			Buckets: requestSecondsBuckets,
		}, []string{"method", "cell"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_router_forward_attempts_total",
			Help: "Calls the router made to a node's Cell service for client requests, first tries and retries.",
		}, []string{"cell"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_router_forward_retries_total",
			Help: "Attempts sent again, unchanged, because the previous one got no answer, by what it got (not_leader, outcome_unknown, cell_not_hosted, or the gRPC code: unavailable, deadline_exceeded, aborted, resource_exhausted).",
		}, []string{"cell", "reason"}),
		hints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_router_leader_hints_followed_total",
			Help: "NOT_LEADER answers whose hint sent the next attempt straight to another node.",
		}, []string{"cell"}),
	}
	var errs []error
	var err error
	for _, vec := range []**prometheus.CounterVec{&m.requests, &m.attempts, &m.retries, &m.hints} {
		*vec, err = cell.RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	m.duration, err = cell.RegisterCollector(reg, m.duration)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// requestNote is where the forwarder notes the cell a client request went
// to, for the request's metrics: 0 none yet, noteSeveral more than one.
type requestNote struct{ cell atomic.Uint64 }

const noteSeveral = ^uint64(0)

type requestNoteKey struct{}

func (n *requestNote) forwarded(id uint64) {
	if !n.cell.CompareAndSwap(0, id) && n.cell.Load() != id {
		n.cell.Store(noteSeveral)
	}
}

func (n *requestNote) label() string {
	switch id := n.cell.Load(); id {
	case 0:
		return cellLabelNone
	case noteSeveral:
		return cellLabelAll
	default:
		return cell.CellLabel(id)
	}
}

// Forwarded tells the request's note, if any, that it went to cellID
// (forward.Metrics).
func (*routerMetrics) Forwarded(ctx context.Context, cellID uint64) {
	if n, ok := ctx.Value(requestNoteKey{}).(*requestNote); ok {
		n.forwarded(cellID)
	}
}

// Attempt counts one call to a node; Retry, one sent again after err
// (forward.Metrics).
func (m *routerMetrics) Attempt(cellID uint64) {
	if m != nil {
		m.attempts.WithLabelValues(cell.CellLabel(cellID)).Inc()
	}
}

func (m *routerMetrics) Retry(cellID uint64, err error, hintFollowed bool) {
	if m == nil {
		return
	}
	c := cell.CellLabel(cellID)
	m.retries.WithLabelValues(c, retryReason(err)).Inc()
	if hintFollowed {
		m.hints.WithLabelValues(c).Inc()
	}
}

// retryReason is the reason label of a retried attempt's error: its
// ErrorInfo reason if it is one that retries, else its gRPC code (only
// retryable codes get here).
func retryReason(err error) string {
	switch r := rpcstatus.Reason(err); r {
	case rpcstatus.ReasonNotLeader, rpcstatus.ReasonOutcomeUnknown, rpcstatus.ReasonCellNotHosted:
		return strings.ToLower(r)
	}
	return codeLabel(status.Code(err))
}

// codeLabel is a gRPC code in snake case ("DeadlineExceeded" ->
// "deadline_exceeded").
func codeLabel(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// metered wraps the Payments service so that every call, from gRPC or
// HTTP, is counted and timed (m nil: srv itself).
func metered(srv pb.PaymentsServer, m *routerMetrics) pb.PaymentsServer {
	if m == nil {
		return srv
	}
	return meteredPayments{PaymentsServer: srv, m: m}
}

// meteredPayments counts and times each method of the Payments service it
// embeds. A method added to the service and not listed here is served
// unmetered (TestEveryPaymentsMethodIsMetered catches it).
type meteredPayments struct {
	pb.PaymentsServer
	m *routerMetrics
}

// observe runs one call with a note for its cell, and records it.
func observe[Req, Resp any](ctx context.Context, m *routerMetrics, method string, call func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	note := &requestNote{}
	start := time.Now()
	out, err := call(context.WithValue(ctx, requestNoteKey{}, note), req)
	c := note.label()
	m.requests.WithLabelValues(method, c, cell.OutcomeLabel(err)).Inc()
	m.duration.WithLabelValues(method, c).Observe(time.Since(start).Seconds())
	return out, err
}

func (p meteredPayments) CreateAccount(ctx context.Context, c *pb.CreateAccount) (*pb.Account, error) {
	return observe(ctx, p.m, "CreateAccount", p.PaymentsServer.CreateAccount, c)
}

func (p meteredPayments) Deposit(ctx context.Context, c *pb.Deposit) (*pb.DepositRecord, error) {
	return observe(ctx, p.m, "Deposit", p.PaymentsServer.Deposit, c)
}

func (p meteredPayments) Transfer(ctx context.Context, c *pb.Transfer) (*pb.TransferRecord, error) {
	return observe(ctx, p.m, "Transfer", p.PaymentsServer.Transfer, c)
}

func (p meteredPayments) GetAccount(ctx context.Context, q *pb.AccountLookup) (*pb.Account, error) {
	return observe(ctx, p.m, "GetAccount", p.PaymentsServer.GetAccount, q)
}

func (p meteredPayments) GetTransfer(ctx context.Context, q *pb.TransferLookup) (*pb.TransferRecord, error) {
	return observe(ctx, p.m, "GetTransfer", p.PaymentsServer.GetTransfer, q)
}

func (p meteredPayments) ListTransfers(ctx context.Context, q *pb.TransferListQuery) (*pb.ListTransfersResponse, error) {
	return observe(ctx, p.m, "ListTransfers", p.PaymentsServer.ListTransfers, q)
}

func (p meteredPayments) Payout(ctx context.Context, c *pb.Payout) (*pb.PayoutRecord, error) {
	return observe(ctx, p.m, "Payout", p.PaymentsServer.Payout, c)
}

func (p meteredPayments) GetPayout(ctx context.Context, q *pb.PayoutLookup) (*pb.PayoutRecord, error) {
	return observe(ctx, p.m, "GetPayout", p.PaymentsServer.GetPayout, q)
}

func (p meteredPayments) ListPayouts(ctx context.Context, q *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	return observe(ctx, p.m, "ListPayouts", p.PaymentsServer.ListPayouts, q)
}
