package control

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/failover"
)

// controlMetrics are the control plane's Prometheus metrics
// (ControlConfig.Metrics), recorded by the meta leader's failover
// controller and automatic reconciler; docs/METRICS.md lists them. A nil
// *controlMetrics records nothing. Label values come from fixed sets
// (sites of the topology, site states, meta event kinds, move kinds,
// reconcile.Kinds).
type controlMetrics struct {
	siteState     *prometheus.GaugeVec     // site, state
	events        *prometheus.CounterVec   // kind
	moves         *prometheus.CounterVec   // kind, result
	rto           *prometheus.HistogramVec // cause
	reconcileRuns *prometheus.CounterVec   // trigger, result
	findings      *prometheus.GaugeVec     // kind
	reconcileLast prometheus.Gauge
}

// rtoSecondsBuckets span a leadership move inside a region (well under a
// second) to the controller's one-minute watch (firstWriteWaitMax).
var rtoSecondsBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60}

// siteStates are the values of the state label of cellpay_failover_site_state.
var siteStates = []failover.SiteState{failover.Healthy, failover.Suspect, failover.Down, failover.Drained}

func newControlMetrics(reg prometheus.Registerer) (*controlMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &controlMetrics{
		siteState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_failover_site_state",
			Help: "1 for the state (healthy, suspect, down, drained) the failover controller holds for the site, 0 for the others. Only the meta leader reports.",
		}, []string{"site", "state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_failover_events_total",
			Help: "Meta events the failover controller recorded on this node while it led the meta group, by kind (site_state, leader_moved, move_failed, first_write, drill_started, drill_finished).",
		}, []string{"kind"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_failover_leader_moves_total",
			Help: "Leadership moves the controller made, by kind (failover, failback, preferred, pinned) and result (ok, failed).",
		}, []string{"kind", "result"}),
		rto: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellpay_failover_rto_seconds",
			Help:    "Recovery time of a cell: from a site suspected (cause fault) or a move's start (cause move) to the first successful write a router saw through the new leader (the first_write event's duration).",
			Buckets: rtoSecondsBuckets,
		}, []string{"cause"}),
		reconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_reconcile_runs_total",
			Help: "Automatic reconciliations the meta leader ran, by trigger (after_leader_moves, background) and result (all_clear, problems, incomplete).",
		}, []string{"trigger", "result"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_reconcile_findings",
			Help: "Findings of this node's last automatic reconciliation, by kind (every kind of cell/reconcile; Unresolved and CheckSkipped are not problems).",
		}, []string{"kind"}),
		reconcileLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellpay_reconcile_last_run_timestamp_seconds",
			Help: "When this node's last automatic reconciliation ended (Unix time).",
		}),
	}
	var errs []error
	var err error
	for _, vec := range []**prometheus.GaugeVec{&m.siteState, &m.findings} {
		*vec, err = cell.RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	for _, vec := range []**prometheus.CounterVec{&m.events, &m.moves, &m.reconcileRuns} {
		*vec, err = cell.RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	m.rto, err = cell.RegisterCollector(reg, m.rto)
	errs = append(errs, err)
	m.reconcileLast, err = cell.RegisterCollector(reg, m.reconcileLast)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// sites sets the site states the controller holds while it leads; a
// controller that does not lead reports none (the meta leader's are the
// ones that count).
func (m *controlMetrics) sites(topo *topology.Topology, st failover.State, leading bool) {
	if m == nil {
		return
	}
	if !leading {
		m.siteState.Reset()
		return
	}
	for _, s := range topo.Sites() {
		now := st.Sites[s.ID].State // the zero value is Healthy
		for _, state := range siteStates {
			v := 0.0
			if state == now {
				v = 1
			}
			m.siteState.WithLabelValues(s.ID, state.String()).Set(v)
		}
	}
}

func (m *controlMetrics) event(kind EventKind) {
	if m != nil {
		m.events.WithLabelValues(string(kind)).Inc()
	}
}

func (m *controlMetrics) moved(kind failover.MoveKind, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.moves.WithLabelValues(string(kind), result).Inc()
}

// firstWrite observes one cell's recovery time.
func (m *controlMetrics) firstWrite(cause failover.RTOCause, took time.Duration) {
	if m == nil {
		return
	}
	m.rto.WithLabelValues(string(cause)).Observe(took.Seconds())
}

// reconciled records one automatic reconciliation; why is the run's
// reason (a fixed string of autoReconciler.run).
func (m *controlMetrics) reconciled(why string, rep reconcile.Report, err error, at time.Time) {
	if m == nil {
		return
	}
	result := "all_clear"
	switch {
	case err != nil:
		result = "incomplete"
	case !rep.AllClear:
		result = "problems"
	}
	m.reconcileRuns.WithLabelValues(strings.ReplaceAll(why, " ", "_"), result).Inc()
	counts := map[reconcile.Kind]int{}
	for _, f := range rep.Findings {
		counts[f.Kind]++
	}
	for _, k := range reconcile.Kinds {
		m.findings.WithLabelValues(string(k)).Set(float64(counts[k]))
	}
	m.reconcileLast.Set(float64(at.UnixMilli()) / 1000)
}
