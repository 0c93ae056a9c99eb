package control

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/failover"
)

// The control plane's metrics: site states only from the leader, moves by
// kind and result, recovery times by cause, the last reconciliation's
// findings with every kind present.
func TestControlMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newControlMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.New(topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Nodes: []topology.Node{{ID: "hz-a-1", Site: "hz-a", RaftAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:4"},
			{ID: "hz-b-1", Site: "hz-b", RaftAddr: "127.0.0.1:2", ClientAddr: "127.0.0.1:5"},
			{ID: "sh-a-1", Site: "sh-a", RaftAddr: "127.0.0.1:3", ClientAddr: "127.0.0.1:6"}},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"},
			Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := failover.State{Sites: map[string]failover.SiteStatus{"hz-a": {State: failover.Down}}}
	m.sites(topo, st, true)
	for site, want := range map[string]string{"hz-a": "down", "hz-b": "healthy", "sh-a": "healthy"} {
		for _, state := range siteStates {
			v := 0.0
			if state.String() == want {
				v = 1
			}
			if got := testutil.ToFloat64(m.siteState.WithLabelValues(site, state.String())); got != v {
				t.Errorf("site_state{%s,%s} = %v, want %v", site, state, got, v)
			}
		}
	}
	m.sites(topo, st, false)
	if n := testutil.CollectAndCount(m.siteState); n != 0 {
		t.Errorf("a controller that does not lead reports %d site states, want none", n)
	}
	m.moved(failover.Failover, nil)
	m.moved(failover.Failback, errors.New("timeout"))
	m.firstWrite(failover.CauseFault, 1500*time.Millisecond)
	m.firstWrite(failover.CauseMove, 200*time.Millisecond)
	m.event(EventLeaderMoved)
	rep := reconcile.NewReport(reconcile.Coverage{}, nil, []reconcile.Finding{{Kind: reconcile.StuckPayout}, {Kind: reconcile.StuckPayout}, {Kind: reconcile.Unresolved}})
	m.reconciled("after leader moves", rep, nil, time.UnixMilli(1_700_000_000_500))
	m.reconciled("background", reconcile.NewReport(reconcile.Coverage{}, nil, nil), errors.New("cell 2 did not answer"), time.UnixMilli(1_700_000_001_000))
	for name, got := range map[string]float64{
		"moves{failover,ok}":                          testutil.ToFloat64(m.moves.WithLabelValues("failover", "ok")),
		"moves{failback,failed}":                      testutil.ToFloat64(m.moves.WithLabelValues("failback", "failed")),
		"events{leader_moved}":                        testutil.ToFloat64(m.events.WithLabelValues("leader_moved")),
		"reconcile_runs{after_leader_moves,problems}": testutil.ToFloat64(m.reconcileRuns.WithLabelValues("after_leader_moves", "problems")),
		"reconcile_runs{background,incomplete}":       testutil.ToFloat64(m.reconcileRuns.WithLabelValues("background", "incomplete")),
	} {
		if got != 1 {
			t.Errorf("%s = %v, want 1", name, got)
		}
	}
	if got := testutil.ToFloat64(m.findings.WithLabelValues("StuckPayout")); got != 0 {
		t.Errorf("findings{StuckPayout} = %v after a last run with none, want 0", got)
	}
	if n := testutil.CollectAndCount(m.findings); n != len(reconcile.Kinds) {
		t.Errorf("%d finding kinds reported, want every kind (%d)", n, len(reconcile.Kinds))
	}
	if got := testutil.ToFloat64(m.reconcileLast); got != 1_700_000_001 {
		t.Errorf("last run at %v, want 1700000001", got)
	}
	if n, err := testutil.GatherAndCount(reg, "cellpay_failover_rto_seconds"); err != nil || n != 2 {
		t.Errorf("%d recovery time series (%v), want fault and move", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
