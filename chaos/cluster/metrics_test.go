package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// metricSum adds up, over regs, the value of every series of family name
// whose labels include want: a counter's or gauge's value, a histogram's
// observation count.
func metricSum(t testing.TB, regs []*prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	sum := 0.0
	for _, reg := range regs {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				if hasLabels(m, want) {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func nodeRegistries(c *Cluster) []*prometheus.Registry {
	var out []*prometheus.Registry
	for _, n := range c.Topology.Nodes() {
		out = append(out, c.NodeMetrics(n.ID))
	}
	return out
}

func routerRegistries(c *Cluster) []*prometheus.Registry {
	var out []*prometheus.Registry
	for _, s := range c.Topology.Sites() {
		out = append(out, c.RouterMetrics(s.ID))
	}
	return out
}

// TestMetricsOfAFiberCut reads every node's and router's registry through
// a fiber cut of hz-a, the failover, the repair, the failback and the
// automatic reconciliation: the site goes down and comes back, the events
// and moves are counted, recovery times are observed, leaders change, the
// reconciliation is counted all clear, and client traffic is counted by
// the routers and proposed by the nodes.
func TestMetricsOfAFiberCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	load := startLoad(t, c)
	time.Sleep(time.Second)
	nodes, routers := nodeRegistries(c), routerRegistries(c)
	sum := func(regs []*prometheus.Registry, name string, labels map[string]string) float64 {
		return metricSum(t, regs, name, labels)
	}
	atLeast := func(regs []*prometheus.Registry, name string, labels map[string]string, n float64) func() (bool, string) {
		return func() (bool, string) {
			got := sum(regs, name, labels)
			return got >= n, fmt.Sprintf("%s%v = %v, want at least %v", name, labels, got, n)
		}
	}
	hzA := cellsHomedIn(c, "hz-a")
	waitFor(t, 10*time.Second, "the meta leader reports hz-a healthy", func() (bool, string) {
		got := sum(nodes, "cellpay_failover_site_state", map[string]string{"site": "hz-a", "state": "healthy"})
		return got == 1, fmt.Sprintf("hz-a healthy reported by %v nodes, want 1 (the meta leader)", got)
	})

	c.Fabric.Isolate("hz-a")
	c.Fabric.CutIngress("hz-a")
	waitFor(t, 30*time.Second, "the meta leader reports hz-a down", atLeast(nodes, "cellpay_failover_site_state", map[string]string{"site": "hz-a", "state": "down"}, 1))
	waitFor(t, 30*time.Second, "site changes counted", atLeast(nodes, "cellpay_failover_events_total", map[string]string{"kind": "site_state"}, 1))
	waitFor(t, 60*time.Second, "a recovery time observed", atLeast(nodes, "cellpay_failover_rto_seconds", nil, 1))
	for _, id := range hzA {
		waitFor(t, 30*time.Second, fmt.Sprintf("cell %d's leader change seen", id), atLeast(nodes, "cellpay_node_leader_changes_total", map[string]string{"cell": fmt.Sprint(id)}, 1))
	}

	c.Fabric.HealAll()
	waitFor(t, 60*time.Second, "every cell leads at home again", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	waitFor(t, 30*time.Second, "failbacks counted", atLeast(nodes, "cellpay_failover_leader_moves_total", map[string]string{"kind": "failback", "result": "ok"}, float64(len(hzA))))
	waitFor(t, 30*time.Second, "hz-a healthy again", atLeast(nodes, "cellpay_failover_site_state", map[string]string{"site": "hz-a", "state": "healthy"}, 1))
	waitFor(t, 10*time.Second, "each cell has one leader in the gauges", func() (bool, string) {
		for _, cl := range c.Topology.Cells() {
			if n := sum(nodes, "cellpay_node_leader", map[string]string{"cell": fmt.Sprint(cl.ID)}); n != 1 {
				return false, fmt.Sprintf("cell %d: %v nodes report leading it", cl.ID, n)
			}
		}
		return true, ""
	})
	waitFor(t, 60*time.Second, "an automatic reconciliation all clear", atLeast(nodes, "cellpay_reconcile_runs_total", map[string]string{"trigger": "after_leader_moves", "result": "all_clear"}, 1))
	load.stop()

	if got := sum(nodes, "cellpay_reconcile_last_run_timestamp_seconds", nil); got <= 0 {
		t.Errorf("no last reconciliation time: %v", got)
	}
	for name, labels := range map[string]map[string]string{
		"cellpay_router_requests_total":            {"method": "Transfer", "outcome": "ok"},
		"cellpay_router_request_duration_seconds":  {"method": "Transfer"},
		"cellpay_router_forward_attempts_total":    nil,
		"cellpay_node_proposals_total":             {"kind": "transfer", "outcome": "ok"},
		"cellpay_node_raft_apply_duration_seconds": nil,
	} {
		regs := nodes
		if strings.HasPrefix(name, "cellpay_router_") {
			regs = routers
		}
		if got := sum(regs, name, labels); got <= 0 {
			t.Errorf("%s%v = %v, want traffic counted", name, labels, got)
		}
	}
	// The clients' transfers acknowledged are each one ok Transfer request
	// at some router (the client may also have retried some through
	// another router: those are counted too).
	if acked, ok := float64(len(load.acked)), sum(routers, "cellpay_router_requests_total", map[string]string{"method": "Transfer", "outcome": "ok"}); ok < acked {
		t.Errorf("routers counted %v ok transfers, fewer than the %v acknowledged", ok, acked)
	}
	for _, reg := range append(nodes, routers...) {
		if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", problems, err)
		}
	}
	load.checkNothingLost(t, newClient(t, c, "shanghai"))
}
