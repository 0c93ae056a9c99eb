package cell

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// gathered returns the metric of family name whose labels include want
// (nil if none).
func gathered(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metrics
				}
			}
			return m
		}
	}
	return nil
}

// valueOf is a counter's or a gauge's value.
func valueOf(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// unknownProvider never gives a definite answer: its payouts stay UNKNOWN.
type unknownProvider struct{}

func (unknownProvider) Name() string { return "flaky-bank" }
func (unknownProvider) Submit(context.Context, channel.Payout) (channel.Result, error) {
	return channel.Result{}, fmt.Errorf("%w: the test bank never answers", channel.ErrOutcomeUnknown)
}
func (unknownProvider) Query(context.Context, string) (channel.Result, error) {
	return channel.Result{}, fmt.Errorf("%w: the test bank never answers", channel.ErrOutcomeUnknown)
}

// unknownCourier never learns a credit's outcome: records stay in the outbox.
type unknownCourier struct{}

func (unknownCourier) Credit(context.Context, uint64, *pb.CreditIn) (*pb.TransferRecord, error) {
	return nil, rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, "the test courier never arrives", nil)
}

// TestNodeMetricsCountTraffic runs a node's service, outbox relay, payout
// executor and leader watch on a single-node host, as StartNode wires them,
// sends it requests, and reads the registry: proposals by kind and
// outcome, apply latency, leadership, the outbox, payouts and provider
// calls.
func TestNodeMetricsCountTraffic(t *testing.T) {
	host, _ := newSingleHost(t)
	reg := prometheus.NewRegistry()
	m, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	events, stopWatch := host.WatchLeaders()
	t.Cleanup(stopWatch)
	go m.watchLeaders("n1", events)
	svc := NewService(host, oneCellDirectory{}, ServiceConfig{CrossCellWait: -1})
	svc.metrics = m
	relay := newRelay(host, svc, unknownCourier{}, []uint64{1}, RelayConfig{Interval: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, quietLogger())
	svc.relay = relay
	go relay.run()
	t.Cleanup(relay.close)
	exec := newPayoutExecutor(host, svc, []uint64{1}, PayoutConfig{Providers: []channel.Provider{unknownProvider{}}, Interval: 20 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, UnresolvedAge: time.Millisecond, Wait: -1}, quietLogger())
	svc.payouts = exec
	go exec.run()
	t.Cleanup(exec.close)

	ctx := context.Background()
	create := func(key, account string) error {
		_, err := svc.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: key, AccountId: account, Currency: "EUR"}})
		return err
	}
	for _, step := range []struct {
		what string
		err  error
	}{
		{"create alice", create("c-alice", "alice")},
		{"create alice again (replayed)", create("c-alice", "alice")},
		{"create carol", create("c-carol", "carol")},
		{"deposit", func() error {
			_, err := svc.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{IdempotencyKey: "d-1", AccountId: "alice", AmountMinor: 100, Currency: "EUR", ExternalRef: "bank-1"}})
			return err
		}()},
		{"cross-cell transfer", func() error {
			_, err := svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-cross", FromAccountId: "alice", ToAccountId: "remote-bob", AmountMinor: 10, Currency: "EUR"}})
			return err
		}()},
		{"payout", func() error {
			_, err := svc.Payout(ctx, &pb.PayoutRequest{CellId: 1, Command: &pb.Payout{PayoutId: "p-1", AccountId: "alice", AmountMinor: 5, Currency: "EUR"}})
			return err
		}()},
	} {
		if step.err != nil {
			t.Fatalf("%s: %v", step.what, step.err)
		}
	}
	_, err = svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-big", FromAccountId: "alice", ToAccountId: "carol", AmountMinor: 1_000_000, Currency: "EUR"}})
	if rpcstatus.Reason(err) != rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS) {
		t.Fatalf("overdraft: %v, want INSUFFICIENT_FUNDS", err)
	}

	for _, want := range []struct {
		cell, kind, outcome string
		n                   float64
	}{
		{"1", "create_account", "ok", 2},
		{"1", "create_account", "replayed", 1},
		{"1", "deposit", "ok", 1},
		{"1", "transfer", "ok", 1},
		{"1", "transfer", "insufficient_funds", 1},
		{"1", "payout", "ok", 1},
	} {
		if got := testutil.ToFloat64(m.proposals.WithLabelValues(want.cell, want.kind, want.outcome)); got != want.n {
			t.Errorf("proposals{cell=%s,kind=%s,outcome=%s} = %v, want %v", want.cell, want.kind, want.outcome, got, want.n)
		}
	}
	if h := gathered(t, reg, "cellpay_node_raft_apply_duration_seconds", map[string]string{"cell": "1"}); h.GetHistogram().GetSampleCount() < 7 {
		t.Errorf("apply latency of cell 1: %d observations, want at least the 7 applied proposals", h.GetHistogram().GetSampleCount())
	}
	// The relay and the executor report what their passes read; the
	// executor's outcome proposal is counted too.
	replicationtest.EventuallyNoError(t, 10*time.Second, func() error {
		for _, g := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"cellpay_node_leader", map[string]string{"cell": "1"}, 1},
			{"cellpay_node_outbox_pending", map[string]string{"cell": "1"}, 1},
			{"cellpay_node_payouts", map[string]string{"cell": "1", "state": "unknown"}, 1},
			{"cellpay_node_payouts", map[string]string{"cell": "1", "state": "pending"}, 0},
			{"cellpay_node_payouts_unresolved", map[string]string{"cell": "1"}, 1},
			{"cellpay_node_proposals_total", map[string]string{"cell": "1", "kind": "payout_outcome", "outcome": "ok"}, 1},
		} {
			got := gathered(t, reg, g.name, g.labels)
			if got == nil {
				return fmt.Errorf("%s%v is not exported", g.name, g.labels)
			}
			if v := valueOf(got); v != g.want {
				return fmt.Errorf("%s%v = %v, want %v", g.name, g.labels, v, g.want)
			}
		}
		return nil
	}, "the passes' gauges")
	replicationtest.EventuallyNoError(t, 10*time.Second, func() error {
		submits := testutil.ToFloat64(m.providerCalls.WithLabelValues("flaky-bank", "submit", "unknown"))
		queries := testutil.ToFloat64(m.providerCalls.WithLabelValues("flaky-bank", "query", "unknown"))
		if submits != 1 || queries < 1 {
			return fmt.Errorf("submits %v (want 1: an unknown outcome is only queried), queries %v (want some)", submits, queries)
		}
		return nil
	}, "provider calls")
	if n, err := testutil.GatherAndCount(reg, "cellpay_node_payout_provider_call_duration_seconds"); err != nil || n != 2 {
		t.Errorf("provider call latency: %d series (%v), want submit and query", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestLeaderWatchCounts feeds leader events to the watch: learning the
// first leader is no change, a new leader is, an election (no leader) in
// between is not counted twice.
func TestLeaderWatchCounts(t *testing.T) {
	m, err := newNodeMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan replication.LeaderEvent)
	done := make(chan struct{})
	go func() { m.watchLeaders("n1", events); close(done) }()
	for _, ev := range []replication.LeaderEvent{
		{Group: 1, LeaderID: ""}, {Group: 1, LeaderID: "n1", Term: 2}, // first leader: no change
		{Group: 1, LeaderID: ""}, {Group: 1, LeaderID: "n2", Term: 3}, // a change
		{Group: 1, LeaderID: "n2", Term: 3},                                      // the same again
		{Group: 0, LeaderID: "n2", Term: 1}, {Group: 0, LeaderID: "n1", Term: 2}, // the meta group
	} {
		events <- ev
	}
	close(events)
	<-done
	for cell, want := range map[string]struct{ changes, leads float64 }{"1": {1, 0}, "0": {1, 1}} {
		if got := testutil.ToFloat64(m.leaderChanges.WithLabelValues(cell)); got != want.changes {
			t.Errorf("cell %s: %v leader changes, want %v", cell, got, want.changes)
		}
		if got := testutil.ToFloat64(m.leading.WithLabelValues(cell)); got != want.leads {
			t.Errorf("cell %s: leader gauge %v, want %v", cell, got, want.leads)
		}
	}
}

// TestMetricsRegistryReuse: a node restarted in the same process registers
// into the same registry and goes on counting; a registry holding another
// metric under one of the node's names is refused, and the error says so.
func TestMetricsRegistryReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	first.proposals.WithLabelValues("1", "deposit", "ok").Inc()
	again, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(again.proposals.WithLabelValues("1", "deposit", "ok")); got != 1 {
		t.Errorf("after a restart: %v, want the count to go on (1)", got)
	}
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "cellpay_node_proposals_total", Help: "not ours"}))
	if _, err := newNodeMetrics(clash); err == nil {
		t.Error("registering over another metric of the same name: no error")
	}
	var nilMetrics *nodeMetrics // no registry: every method is a no-op
	nilMetrics.proposed(1, &pb.Command{}, time.Millisecond, false, nil)
	nilMetrics.outbox(1, 3)
	nilMetrics.payoutPass(1, true, nil, time.Now(), time.Minute)
	nilMetrics.providerCall("p", "submit", channel.Result{}, nil, time.Millisecond)
}

func TestOutcomeLabels(t *testing.T) {
	ledger := func(r pb.ErrorReason) error {
		return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonString(r), "x", nil)
	}
	for _, tt := range []struct {
		err              error
		outcome, propose string
	}{
		{nil, "ok", "ok"},
		{ledger(pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS), "insufficient_funds", "insufficient_funds"},
		{InputStatus(&InputError{Field: "amount_minor", Reason: "x"}, 1), "invalid_argument", "invalid_argument"},
		{rpcstatus.NotLeader(1, "n2", "addr", 3), "unavailable", "not_leader"},
		{rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, "x", nil), "unknown", "unknown"},
		{rpcstatus.Error(codes.NotFound, rpcstatus.ReasonCellNotHosted, "x", nil), "unavailable", "cell_not_hosted"},
		{rpcstatus.Error(codes.FailedPrecondition, "SOME_NEW_REASON", "from a client's text?", nil), "error", "error"},
		{grpcStatus(codes.Unavailable), "unavailable", "error"},
		{grpcStatus(codes.DeadlineExceeded), "unknown", "canceled"},
		{grpcStatus(codes.Internal), "error", "error"},
		{errors.New("plain"), "error", "error"},
	} {
		if got := OutcomeLabel(tt.err); got != tt.outcome {
			t.Errorf("OutcomeLabel(%v) = %q, want %q", tt.err, got, tt.outcome)
		}
		if got := proposalOutcome(false, tt.err); got != tt.propose {
			t.Errorf("proposalOutcome(%v) = %q, want %q", tt.err, got, tt.propose)
		}
	}
	if got := proposalOutcome(true, nil); got != "replayed" {
		t.Errorf("a replayed answer: %q", got)
	}
	for _, tt := range []struct {
		res  channel.Result
		err  error
		want string
	}{
		{channel.Result{Outcome: channel.OutcomeSucceeded}, nil, "succeeded"},
		{channel.Result{Outcome: channel.OutcomeFailed}, nil, "failed"},
		{channel.Result{Reason: channel.ReasonProcessing}, nil, "processing"},
		{channel.Result{}, fmt.Errorf("%w: timeout", channel.ErrOutcomeUnknown), "unknown"},
		{channel.Result{}, fmt.Errorf("%w: p-1", channel.ErrNotFound), "not_found"},
		{channel.Result{}, &channel.FieldError{Kind: channel.ErrInvalidPayout, Field: "id"}, "invalid"},
		{channel.Result{}, fmt.Errorf("%w: p-1", channel.ErrIDReused), "id_reused"},
		{channel.Result{}, errors.New("other"), "error"},
	} {
		if got := providerResult(tt.res, tt.err); got != tt.want {
			t.Errorf("providerResult(%v, %v) = %q, want %q", tt.res, tt.err, got, tt.want)
		}
	}
	if got := commandKind(&pb.Command{Body: &pb.Command_PayoutOutcome{PayoutOutcome: &pb.PayoutOutcome{}}}); got != "payout_outcome" {
		t.Errorf("commandKind = %q", got)
	}
}

func grpcStatus(c codes.Code) error { return status.Error(c, "x") }
