package router

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

func newTestRouterMetrics(t *testing.T) (*routerMetrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newRouterMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// Requests are counted per method, cell and outcome whether they are
// answered, refused before forwarding, or fan out to every cell; a cell
// that never answers is retried and counted unavailable.
func TestRouterMetricsCountRequests(t *testing.T) {
	f := &fakeCells{payouts: map[uint64][]*pb.PayoutRecord{1: payoutsOf(1, unknown), 2: payoutsOf(2, pending)}, down: map[uint64]bool{}}
	p := startFakeCells(t, 2, f)
	m, reg := newTestRouterMetrics(t)
	p.fwd.Metrics = m
	srv := metered(p, m)
	ctx := context.Background()

	account := ""
	for i := 0; account == ""; i++ {
		if c, _ := p.topo.CellOfAccount(fmt.Sprint("acct-", i)); c.ID == 1 {
			account = fmt.Sprint("acct-", i)
		}
	}
	if _, err := srv.Payout(ctx, &pb.Payout{PayoutId: "p-1", AccountId: account, AmountMinor: 5, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Payout(ctx, &pb.Payout{AccountId: account, AmountMinor: 5, Currency: "EUR"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a payout without an id: %v, want INVALID_ARGUMENT", err)
	}
	if _, err := srv.ListPayouts(ctx, &pb.PayoutListQuery{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down[2] = true
	f.mu.Unlock()
	if _, err := srv.ListPayouts(ctx, &pb.PayoutListQuery{CellId: 2}); status.Code(err) != codes.Unavailable {
		t.Fatalf("listing a cell that is down: %v, want UNAVAILABLE", err)
	}

	for _, want := range []struct {
		method, cell, outcome string
	}{
		{"Payout", "1", "ok"},
		{"Payout", cellLabelNone, "invalid_argument"},
		{"ListPayouts", cellLabelAll, "ok"},
		{"ListPayouts", "2", "unavailable"},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(want.method, want.cell, want.outcome)); got != 1 {
			t.Errorf("requests{method=%s,cell=%s,outcome=%s} = %v, want 1", want.method, want.cell, want.outcome, got)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "cellpay_router_requests_total"); err != nil || n != 4 {
		t.Errorf("%d request series (%v), want the 4 above", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "cellpay_router_request_duration_seconds"); err != nil || n != 4 {
		t.Errorf("%d latency series (%v), want one per method and cell (4)", n, err)
	}
	retried := testutil.ToFloat64(m.retries.WithLabelValues("2", "unavailable"))
	attempts := testutil.ToFloat64(m.attempts.WithLabelValues("2"))
	if retried < 1 || attempts != 1+1+retried { // one for the listing of every cell, one first try, the retries
		t.Errorf("cell 2: %v attempts, %v retries: want retries until the deadline, and attempts = 2 + retries", attempts, retried)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// hintingCell answers GetAccount as the leader when it is leaderID, and
// otherwise NOT_LEADER naming the leader.
type hintingCell struct {
	pb.UnimplementedCellServer
	self, leaderID, leaderAddr string
}

func (h *hintingCell) GetAccount(_ context.Context, req *pb.GetAccountRequest) (*pb.Account, error) {
	if h.self != h.leaderID {
		return nil, rpcstatus.NotLeader(req.GetCellId(), h.leaderID, h.leaderAddr, 2)
	}
	return &pb.Account{Id: req.GetAccountId(), Currency: "EUR"}, nil
}

// A NOT_LEADER answer is followed at once: counted as a retry with reason
// not_leader and as a hint followed; the request is one ok request.
func TestRouterMetricsCountHints(t *testing.T) {
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	}
	var lns []net.Listener
	for i, site := range spec.Sites {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, lis)
		spec.Nodes = append(spec.Nodes, topology.Node{ID: site.ID + "-1", Site: site.ID, RaftAddr: fmt.Sprintf("127.0.0.1:%d", i+1), ClientAddr: lis.Addr().String()})
	}
	for i, lis := range lns {
		srv := grpc.NewServer()
		pb.RegisterCellServer(srv, &hintingCell{self: spec.Nodes[i].ID, leaderID: "hz-b-1", leaderAddr: spec.Nodes[1].ClientAddr})
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	conns := forward.NewPool(nil, nil)
	t.Cleanup(func() { _ = conns.Close() })
	m, _ := newTestRouterMetrics(t)
	routes := forward.NewRoutes()
	routes.Observe(1, "hz-a-1", 1) // a stale route: the first attempt is told where the leader is
	fwd := forward.New(topo, conns, routes, forward.DefaultConfig())
	fwd.Metrics = m
	srv := metered(&payments{topo: topo, fwd: fwd}, m)
	if _, err := srv.GetAccount(context.Background(), &pb.AccountLookup{AccountId: "alice"}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]float64{
		"requests{GetAccount,1,ok}":       testutil.ToFloat64(m.requests.WithLabelValues("GetAccount", "1", "ok")),
		"attempts{1} - 1":                 testutil.ToFloat64(m.attempts.WithLabelValues("1")) - 1,
		"retries{1,not_leader}":           testutil.ToFloat64(m.retries.WithLabelValues("1", "not_leader")),
		"leader_hints_followed{1}":        testutil.ToFloat64(m.hints.WithLabelValues("1")),
		"request_duration_seconds series": float64(testutil.CollectAndCount(m.duration)),
	} {
		if got != 1 {
			t.Errorf("%s = %v, want 1", name, got)
		}
	}
}

// Every method of the Payments service is metered: meteredPayments
// overrides each (a new method would otherwise be served unmetered).
func TestEveryPaymentsMethodIsMetered(t *testing.T) {
	m, _ := newTestRouterMetrics(t)
	srv := reflect.ValueOf(metered(pb.UnimplementedPaymentsServer{}, m))
	iface := reflect.TypeFor[pb.PaymentsServer]()
	for i := range iface.NumMethod() {
		method := iface.Method(i)
		if !method.IsExported() {
			continue
		}
		req := reflect.New(method.Type.In(1).Elem())
		out := srv.MethodByName(method.Name).Call([]reflect.Value{reflect.ValueOf(context.Background()), req})
		if err, _ := out[1].Interface().(error); status.Code(err) != codes.Unimplemented {
			t.Fatalf("%s: %v, want the embedded server's UNIMPLEMENTED", method.Name, err)
		}
		if got := testutil.ToFloat64(m.requests.WithLabelValues(method.Name, cellLabelNone, "error")); got != 1 {
			t.Errorf("%s is not metered (%v requests counted)", method.Name, got)
		}
	}
}

func TestRetryReasons(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{rpcstatus.NotLeader(1, "n2", "addr", 3), "not_leader"},
		{rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, "x", nil), "outcome_unknown"},
		{rpcstatus.Error(codes.NotFound, rpcstatus.ReasonCellNotHosted, "x", nil), "cell_not_hosted"},
		{status.Error(codes.Unavailable, "connection refused"), "unavailable"},
		{status.Error(codes.DeadlineExceeded, "x"), "deadline_exceeded"},
		{status.Error(codes.ResourceExhausted, "x"), "resource_exhausted"},
		{status.Error(codes.Aborted, "x"), "aborted"},
	} {
		if got := retryReason(tt.err); got != tt.want {
			t.Errorf("retryReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
