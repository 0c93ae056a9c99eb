package control

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/topology"
)

// ReconcileSchedule is when the meta leader reconciles the cluster on its
// own: after every failover or failback, once the moves have been quiet
// for Quiet, and every Interval in the background.
type ReconcileSchedule struct {
	// Interval between background runs. Default 5 min; negative: none
	// (runs after moves still happen).
	Interval time.Duration
	// Quiet is how long after the last leader move a run waits. Default 5 s.
	Quiet time.Duration
	// Window is how far back each run matches payouts against statements.
	// Default 1 h.
	Window time.Duration
	// StuckAfter: unsettled work older than this is a finding. Default 1 min.
	StuckAfter time.Duration
	// Timeout bounds one run. Default 2 min.
	Timeout time.Duration
	// Statements are the providers' statements to match (by provider name).
	Statements map[string]channel.StatementReader
	// Disabled turns automatic reconciliation off (cellpay reconcile still
	// works).
	Disabled bool
}

func (s *ReconcileSchedule) defaults() {
	if s.Interval == 0 {
		s.Interval = 5 * time.Minute
	}
	if s.Quiet <= 0 {
		s.Quiet = 5 * time.Second
	}
	if s.Window <= 0 {
		s.Window = time.Hour
	}
	if s.StuckAfter <= 0 {
		s.StuckAfter = time.Minute
	}
	if s.Timeout <= 0 {
		s.Timeout = 2 * time.Minute
	}
}

// autoReconciler runs reconciliations on the meta leader, with one
// Reconciler for its lifetime (its connections, and the index each cell was
// last checked at, so each report covers what is new since the last).
type autoReconciler struct {
	autoReconcilerDeps
	sched ReconcileSchedule
	kick  chan struct{} // a leader moved
}

// autoReconcilerDeps are everything the automatic reconciler is given; it
// reaches nothing else of Control.
type autoReconcilerDeps struct {
	topo   *topology.Topology
	dialer func(ctx context.Context, addr string) (net.Conn, error)
	tls    *tls.Config
	now    func() time.Time
	// eventTimeout bounds the recording of a run's event.
	eventTimeout time.Duration
	logger       *slog.Logger
	metrics      *controlMetrics // nil: none
	meta         metaReplica     // it runs only while this replica leads
	proposer     proposer
}

// autoReconcilerDeps hands the automatic reconciler its parts. Called
// once c.meta is set.
func (c *Control) autoReconcilerDeps() autoReconcilerDeps {
	d := autoReconcilerDeps{topo: c.cfg.Topology, dialer: c.cfg.Dialer, tls: c.cfg.TLS, now: c.cfg.Now, eventTimeout: c.cfg.MoveTimeout,
		logger: c.logger, metrics: c.metrics}
	if c.meta != nil { // never a nil *replication.Group in an interface
		d.meta, d.proposer = c.meta, metaProposer{group: c.meta, now: c.cfg.Now}
	}
	return d
}

func newAutoReconciler(deps autoReconcilerDeps, sched ReconcileSchedule) *autoReconciler {
	sched.defaults()
	return &autoReconciler{autoReconcilerDeps: deps, sched: sched, kick: make(chan struct{}, 1)}
}

// moved tells the reconciler a leader moved (never blocks).
func (a *autoReconciler) moved() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *autoReconciler) run(ctx context.Context) {
	r, err := NewReconciler(ReconcilerConfig{Topology: a.topo, Dialer: a.dialer, TLS: a.tls, Statements: a.sched.Statements, StuckAfter: a.sched.StuckAfter, Now: a.now})
	if err != nil {
		a.logger.Error("reconcile: not started", "error", err)
		return
	}
	defer r.Close()
	var background <-chan time.Time
	if a.sched.Interval > 0 {
		t := time.NewTicker(a.sched.Interval)
		defer t.Stop()
		background = t.C
	}
	var quiet *time.Timer
	var afterMoves <-chan time.Time
	for {
		reason := ""
		select {
		case <-ctx.Done():
			if quiet != nil {
				quiet.Stop()
			}
			return
		case <-a.kick:
			// Every move restarts the quiet period: one run per failover.
			if quiet != nil {
				quiet.Stop()
			}
			quiet = time.NewTimer(a.sched.Quiet)
			afterMoves = quiet.C
			continue
		case <-afterMoves:
			afterMoves, reason = nil, "after leader moves"
		case <-background:
			reason = "background"
		}
		if a.meta == nil || !a.meta.IsLeader() {
			continue
		}
		a.once(ctx, r, reason)
	}
}

// once runs one reconciliation and records its outcome as a meta event.
func (a *autoReconciler) once(ctx context.Context, r *Reconciler, reason string) {
	rctx, cancel := context.WithTimeout(ctx, a.sched.Timeout)
	defer cancel()
	rep, err := r.Run(rctx, nil, a.now().Add(-a.sched.Window))
	summary := FindingsText(rep)
	if err != nil {
		summary += "; incomplete: " + err.Error()
	}
	a.metrics.reconciled(reason, rep, err, a.now())
	level := a.logger.Info
	if !rep.AllClear || err != nil {
		level = a.logger.Warn
	}
	level("reconciled", "why", reason, "result", summary)
	ectx, ecancel := context.WithTimeout(ctx, a.eventTimeout)
	defer ecancel()
	ev := &pb.MetaEvent{Kind: string(EventReconciled), Reason: reason + ": " + summary, DurationMs: rep.Covered.Duration.Milliseconds()}
	if _, err := a.proposer.propose(ectx, &pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: ev}}); err != nil {
		a.logger.Warn("could not record the reconciliation", "error", err)
	}
}
