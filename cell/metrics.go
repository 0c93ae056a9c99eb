package cell

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/replication"
)

// nodeMetrics are a node's Prometheus metrics (NodeConfig.Metrics);
// docs/METRICS.md lists them with their labels. A nil *nodeMetrics records
// nothing, so callers never check. Every label value comes from a fixed
// set (cell ids of the topology, command kinds of the protobuf schema,
// reasons of status.go, configured provider names), never from a client's
// input.
type nodeMetrics struct {
	proposals       *prometheus.CounterVec   // cell, kind, outcome
	applySeconds    *prometheus.HistogramVec // cell
	leaderChanges   *prometheus.CounterVec   // cell
	leading         *prometheus.GaugeVec     // cell
	outboxPending   *prometheus.GaugeVec     // cell
	payoutsOpen     *prometheus.GaugeVec     // cell, state
	unresolved      *prometheus.GaugeVec     // cell
	providerCalls   *prometheus.CounterVec   // provider, call, result
	providerSeconds *prometheus.HistogramVec // provider, call
}

// applySecondsBuckets span a commit inside one region (a few ms) to one
// across regions under load, up to the 5 s proposal timeout.
var applySecondsBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// providerSecondsBuckets span a fast bank answer to the 10 s call timeout.
var providerSecondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// newNodeMetrics registers a node's metrics with reg (nil: no metrics).
// Collectors already registered there (a node restarted in the same
// process) are reused, so their counts go on.
func newNodeMetrics(reg prometheus.Registerer) (*nodeMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &nodeMetrics{
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_node_proposals_total",
			Help: "Commands this node proposed to a cell's Raft group as its leader, by command kind and outcome (ok, replayed, a ledger error reason, not_leader, unknown, canceled, error).",
		}, []string{"cell", "kind", "outcome"}),
		applySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellpay_node_raft_apply_duration_seconds",
			Help:    "Time from proposing a command to its being committed by a quorum and applied on this leader (Group.Apply), for proposals that were applied.",
			Buckets: applySecondsBuckets,
		}, []string{"cell"}),
		leaderChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_node_leader_changes_total",
			Help: "Times this node saw a group's leader change to another node (the first leader it learns of is not a change). Cell 0 is the meta group.",
		}, []string{"cell"}),
		leading: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_node_leader",
			Help: "1 if this node leads the group now, else 0. Cell 0 is the meta group.",
		}, []string{"cell"}),
		outboxPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_node_outbox_pending",
			Help: "Cross-cell credits not yet delivered, as the outbox relay on the cell's leader read them in its last pass (at most RelayConfig.BatchMax). Only the leader reports a cell.",
		}, []string{"cell"}),
		payoutsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_node_payouts",
			Help: "Unsettled payouts by state (pending, unknown), as the payout executor on the cell's leader read them in its last pass (at most PayoutConfig.BatchMax per state). Only the leader reports a cell.",
		}, []string{"cell", "state"}),
		unresolved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellpay_node_payouts_unresolved",
			Help: "Unsettled payouts older than PayoutConfig.UnresolvedAge (an alert: resolve them with the provider), from the executor's last pass on the cell's leader.",
		}, []string{"cell"}),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellpay_node_payout_provider_calls_total",
			Help: "Calls of the payout executor to a provider (call: submit, query) by result (succeeded, failed, processing, unknown, not_found, invalid, id_reused, error).",
		}, []string{"provider", "call", "result"}),
		providerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellpay_node_payout_provider_call_duration_seconds",
			Help:    "Duration of the payout executor's calls to a provider, whatever their result.",
			Buckets: providerSecondsBuckets,
		}, []string{"provider", "call"}),
	}
	var errs []error
	var err error
	for _, vec := range []**prometheus.CounterVec{&m.proposals, &m.leaderChanges, &m.providerCalls} {
		*vec, err = RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	for _, vec := range []**prometheus.GaugeVec{&m.leading, &m.outboxPending, &m.payoutsOpen, &m.unresolved} {
		*vec, err = RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	for _, vec := range []**prometheus.HistogramVec{&m.applySeconds, &m.providerSeconds} {
		*vec, err = RegisterCollector(reg, *vec)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// RegisterCollector registers c with reg, or returns the equal collector
// that is registered there already (a component restarted in the same
// process goes on counting). The cell, the router and the control plane
// register through it.
func RegisterCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, errors.New("registering metrics: " + err.Error())
	}
	return c, nil
}

// CellLabel is the "cell" label value of cell id.
func CellLabel(id uint64) string { return strconv.FormatUint(id, 10) }

// bodyField is the oneof of a Command's bodies: its field names (e.g.
// "create_account") are the metrics' command kinds.
var bodyField = (&pb.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("body")

func commandKind(cmd *pb.Command) string {
	if f := cmd.ProtoReflect().WhichOneof(bodyField); f != nil {
		return string(f.Name())
	}
	return "none"
}

// proposed counts one proposal and, if it was applied, its apply time.
func (m *nodeMetrics) proposed(cellID uint64, cmd *pb.Command, applied time.Duration, replayed bool, err error) {
	if m == nil {
		return
	}
	c := CellLabel(cellID)
	outcome := proposalOutcome(replayed, err)
	m.proposals.WithLabelValues(c, commandKind(cmd), outcome).Inc()
	if applied > 0 {
		m.applySeconds.WithLabelValues(c).Observe(applied.Seconds())
	}
}

// proposalOutcome is the outcome label of a proposal's answer.
func proposalOutcome(replayed bool, err error) string {
	switch {
	case err == nil && replayed:
		return "replayed"
	case err == nil:
		return "ok"
	}
	switch r := rpcstatus.Reason(err); r {
	case rpcstatus.ReasonNotLeader:
		return "not_leader"
	case rpcstatus.ReasonOutcomeUnknown:
		return "unknown"
	case "":
	default:
		if knownReasons[r] {
			return strings.ToLower(r)
		}
		return "error"
	}
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded:
		return "canceled" // ended before raft took the proposal
	}
	return "error"
}

// knownReasons are the ErrorInfo reasons a metric label may carry: the
// ledger's and status.go's, a fixed set.
var knownReasons = func() map[string]bool {
	out := map[string]bool{}
	for v := range pb.ErrorReason_name {
		if pb.ErrorReason(v) != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			out[rpcstatus.ReasonString(pb.ErrorReason(v))] = true
		}
	}
	for _, r := range []string{rpcstatus.ReasonNotLeader, rpcstatus.ReasonOutcomeUnknown, rpcstatus.ReasonWrongCell, rpcstatus.ReasonCellNotHosted, rpcstatus.ReasonCrossCellNotEnabled, rpcstatus.ReasonPayoutsNotEnabled} {
		out[r] = true
	}
	return out
}()

// OutcomeLabel names what an answer to a request means, as a metric label
// from a fixed set: "ok"; the error's ErrorInfo reason in lower case when
// it is a business answer (e.g. "insufficient_funds", "invalid_argument");
// "unavailable" when no node answered (no leader, unreachable, overloaded);
// "unknown" when the outcome is not known (OUTCOME_UNKNOWN, a deadline or
// cancellation); "error" for anything else.
func OutcomeLabel(err error) string {
	if err == nil {
		return "ok"
	}
	switch r := rpcstatus.Reason(err); r {
	case rpcstatus.ReasonNotLeader, rpcstatus.ReasonCellNotHosted:
		return "unavailable"
	case rpcstatus.ReasonOutcomeUnknown:
		return "unknown"
	case "":
	default:
		if knownReasons[r] {
			return strings.ToLower(r)
		}
		return "error"
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
		return "unavailable"
	case codes.DeadlineExceeded, codes.Canceled:
		return "unknown"
	}
	return "error"
}

// watchLeaders keeps the leader gauges and change counts from a host's
// leader events until the channel closes.
func (m *nodeMetrics) watchLeaders(self string, events <-chan replication.LeaderEvent) {
	last := map[uint64]string{} // the last known leader of each group
	for ev := range events {
		c := CellLabel(ev.Group)
		if ev.LeaderID != "" {
			if prev, ok := last[ev.Group]; ok && prev != ev.LeaderID {
				m.leaderChanges.WithLabelValues(c).Inc()
			}
			last[ev.Group] = ev.LeaderID
		}
		leads := 0.0
		if ev.LeaderID == self {
			leads = 1
		}
		m.leading.WithLabelValues(c).Set(leads)
	}
}

// outbox records the outbox records a relay pass read; n < 0: this node
// does not lead the cell (it reports nothing for it).
func (m *nodeMetrics) outbox(cellID uint64, n int) {
	if m == nil {
		return
	}
	if n < 0 {
		m.outboxPending.DeleteLabelValues(CellLabel(cellID))
		return
	}
	m.outboxPending.WithLabelValues(CellLabel(cellID)).Set(float64(n))
}

// payoutPass records the unsettled payouts an executor pass read (nil
// records and led false: this node does not lead the cell).
func (m *nodeMetrics) payoutPass(cellID uint64, led bool, records []*pb.PayoutRecord, now time.Time, unresolvedAge time.Duration) {
	if m == nil {
		return
	}
	c := CellLabel(cellID)
	if !led {
		m.payoutsOpen.DeleteLabelValues(c, "pending")
		m.payoutsOpen.DeleteLabelValues(c, "unknown")
		m.unresolved.DeleteLabelValues(c)
		return
	}
	var pending, unknown, old int
	for _, rec := range records {
		switch rec.GetState() {
		case pb.PayoutState_PAYOUT_STATE_PENDING:
			pending++
		case pb.PayoutState_PAYOUT_STATE_UNKNOWN:
			unknown++
		}
		if overdue(rec, now, unresolvedAge) {
			old++
		}
	}
	m.payoutsOpen.WithLabelValues(c, "pending").Set(float64(pending))
	m.payoutsOpen.WithLabelValues(c, "unknown").Set(float64(unknown))
	m.unresolved.WithLabelValues(c).Set(float64(old))
}

// providerCall counts one call to a provider and its duration.
func (m *nodeMetrics) providerCall(provider, call string, res channel.Result, err error, took time.Duration) {
	if m == nil {
		return
	}
	m.providerCalls.WithLabelValues(provider, call, providerResult(res, err)).Inc()
	m.providerSeconds.WithLabelValues(provider, call).Observe(took.Seconds())
}

// providerResult is the result label of a provider's answer.
func providerResult(res channel.Result, err error) string {
	switch {
	case err == nil && res.Outcome == channel.OutcomeSucceeded:
		return "succeeded"
	case err == nil && res.Outcome == channel.OutcomeFailed:
		return "failed"
	case err == nil && res.Reason == channel.ReasonProcessing:
		return "processing"
	case err == nil, errors.Is(err, channel.ErrOutcomeUnknown):
		return "unknown"
	case errors.Is(err, channel.ErrNotFound):
		return "not_found"
	case errors.Is(err, channel.ErrInvalidPayout):
		return "invalid"
	case errors.Is(err, channel.ErrIDReused):
		return "id_reused"
	}
	return "error"
}
