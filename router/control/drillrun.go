package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/failover"
)

// The controller's side of drills, on its own goroutine: the plan is
// failover.PlanDrill's; this records it (audit entry, site state, pins,
// the drill), follows its moves each tick and records its end.

func refused(format string, args ...any) error {
	return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonDrillRefused, "drill refused: "+fmt.Sprintf(format, args...), nil)
}

// refusalStatus is the wire error of a failover.PlanDrill refusal: an
// invalid request is INVALID_ARGUMENT; a drill refused for the cluster's
// state is FAILED_PRECONDITION with reason DRILL_RUNNING (another drill
// runs) or DRILL_REFUSED.
func refusalStatus(err error) error {
	var r *failover.DrillRefusal
	if !errors.As(err, &r) {
		return status.Errorf(codes.Internal, "router: planning the drill: %v", err)
	}
	switch {
	case r.Reason.Invalid():
		return status.Error(codes.InvalidArgument, "router: "+r.Detail)
	case r.Reason == failover.RefusedBusy:
		return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonDrillBusy, "drill refused: "+r.Detail, nil)
	}
	return refused("%s", r.Detail)
}

// handleDrill runs on the controller's goroutine, in its current term.
func (k *controller) handleDrill(ctx context.Context, r drillRequest) drillReply {
	if !k.follow(ctx) {
		return drillReply{err: notLeaderError(k.topo, k.meta)}
	}
	pctx, cancel := context.WithTimeout(k.termCtx, k.moveTimeout)
	defer cancel()
	now := k.now()
	if r.start == nil {
		return k.abortDrill(pctx, r.operator, now)
	}
	req := drillRequestOf(r.start, r.operator)
	in, _ := k.input(now)
	plan, next, err := failover.PlanDrill(k.failover, k.state, in, req, k.runningDrill(), now)
	var d *pb.Drill
	if plan.ID != "" {
		d = drillPB(plan)
	}
	if err != nil {
		err = refusalStatus(err)
	}
	if err != nil || req.DryRun {
		if err != nil && !req.DryRun {
			// a refused drill is audited too, with who asked and why
			detail := fmt.Sprintf("%s site %q cell %d target %q", r.start.GetKind(), r.start.GetSite(), r.start.GetCellId(), r.start.GetTargetSite())
			if _, aerr := k.record(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{Operator: r.operator, Action: "drill " + r.start.GetKind(), Detail: detail, Outcome: "refused: " + status.Convert(err).Message()}}}); aerr != nil {
				k.logger.Warn("could not audit a refused drill", "error", aerr)
			}
		}
		return drillReply{drill: d, err: err}
	}
	detail := drillDetail(d)
	if _, err := k.record(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{Operator: r.operator, Action: "drill " + d.GetKind(), Detail: detail, Outcome: "started"}}}); err != nil {
		return drillReply{err: rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonDrillOutcomeUnknown, fmt.Sprintf("router: recording the drill: %v", err), nil)}
	}
	if err := k.applyDrillState(pctx, d, next, now); err != nil {
		return drillReply{err: rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonDrillOutcomeUnknown, fmt.Sprintf("router: recording the drill's change: %v", err), nil)}
	}
	_, snap := k.input(now)
	d.State, d.StartedAtUnixMs, d.ClientErrorsAtStart = pb.DrillState_DRILL_RUNNING, now.UnixMilli(), routerErrors(snap)
	if _, err := k.record(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_PutDrill{PutDrill: d}}); err != nil {
		return drillReply{err: rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonDrillOutcomeUnknown, fmt.Sprintf("router: recording the drill: %v", err), nil)}
	}
	k.event(pctx, k.term, &pb.MetaEvent{Kind: string(EventDrillStarted), DrillId: d.GetId(), Site: d.GetSite(), CellId: d.GetCellId(), Reason: detail})
	k.drill = d
	return drillReply{drill: proto.Clone(d).(*pb.Drill)} // the controller goes on updating d
}

// runningDrill names the drill under way, if any.
func (k *controller) runningDrill() failover.RunningDrill {
	if k.drill == nil || k.drill.GetState() != pb.DrillState_DRILL_RUNNING {
		return failover.RunningDrill{}
	}
	return failover.RunningDrill{ID: k.drill.GetId(), Detail: drillDetail(k.drill)}
}

// drillRequestOf is req, by operator, as failover.PlanDrill takes it.
func drillRequestOf(req *pb.DrillRequest, operator string) failover.DrillRequest {
	return failover.DrillRequest{Kind: failover.DrillKind(req.GetKind()), Site: req.GetSite(), CellID: req.GetCellId(),
		TargetSite: req.GetTargetSite(), Operator: operator, DryRun: req.GetDryRun()}
}

// drillPB is a planned drill as the meta group records it.
func drillPB(plan failover.Drill) *pb.Drill {
	d := &pb.Drill{Id: plan.ID, Kind: string(plan.Kind), Site: plan.Site, CellId: plan.CellID, TargetSite: plan.TargetSite,
		Operator: plan.Operator, State: pb.DrillState_DRILL_PLANNED}
	for _, m := range plan.Moves {
		d.Moves = append(d.Moves, &pb.PlannedMove{CellId: m.Cell, FromNode: m.FromNode, ToNode: m.ToNode, FromSite: m.FromSite, ToSite: m.ToSite, State: pb.MoveState_MOVE_PENDING})
	}
	d.LeadersBefore, d.LeadersAfter, d.Warnings = leadersPB(plan.LeadersBefore), leadersPB(plan.LeadersAfter), plan.Warnings
	return d
}

func drillDetail(d *pb.Drill) string {
	return failover.DrillDetail(failover.DrillKind(d.GetKind()), d.GetSite(), d.GetCellId(), d.GetTargetSite(), len(d.GetMoves()))
}

func cellView(in failover.Input, id uint64) (failover.CellView, bool) {
	for _, c := range in.Cells {
		if c.ID == id {
			return c, true
		}
	}
	return failover.CellView{}, false
}

func leadersPB(ls []failover.SiteLeaders) []*pb.SiteLeaders {
	var out []*pb.SiteLeaders
	for _, l := range ls {
		out = append(out, &pb.SiteLeaders{Site: l.Site, Leaders: uint32(l.Leaders), LeadersMax: uint32(l.LeadersMax)})
	}
	return out
}

// applyDrillState records the site state and pins a drill sets, then
// adopts them.
func (k *controller) applyDrillState(ctx context.Context, d *pb.Drill, next failover.State, now time.Time) error {
	switch failover.DrillKind(d.GetKind()) {
	case failover.DrillEvacuate, failover.DrillFailback:
		s := next.Sites[d.GetSite()]
		rec, err := k.setSite(ctx, d.GetSite(), s)
		if err != nil {
			return err
		}
		k.event(ctx, k.term, &pb.MetaEvent{Kind: string(EventSiteState), Site: d.GetSite(), State: rec.GetState(), Reason: s.Reason, DrillId: d.GetId()})
	}
	for id := range k.state.Pins {
		if _, still := next.Pins[id]; !still {
			if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_Pin{Pin: &pb.CellPin{CellId: id}}}); err != nil {
				return err
			}
		}
	}
	for id, site := range next.Pins {
		if k.state.Pins[id] != site {
			if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_Pin{Pin: &pb.CellPin{CellId: id, Site: site}}}); err != nil {
				return err
			}
		}
	}
	next.BadSince, next.GoodSince = k.state.BadSince, k.state.GoodSince
	k.state = next
	return nil
}

// abortDrill stops the running drill and undoes its change: an evacuated
// site is healthy again (its cells return after the hold-down), a pinned
// cell is unpinned.
func (k *controller) abortDrill(ctx context.Context, operator string, now time.Time) drillReply {
	d := k.drill
	if d == nil || d.GetState() != pb.DrillState_DRILL_RUNNING {
		return drillReply{err: refused("no drill is running")}
	}
	next := failover.AbortDrillState(k.state, failover.DrillKind(d.GetKind()), d.GetSite(), d.GetCellId(), operator, now)
	if err := k.applyDrillState(ctx, d, next, now); err != nil {
		return drillReply{err: rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonDrillOutcomeUnknown, fmt.Sprintf("router: recording the abort: %v", err), nil)}
	}
	in, _ := k.input(now)
	for _, m := range d.GetMoves() {
		if m.GetState() == pb.MoveState_MOVE_PENDING {
			m.State = pb.MoveState_MOVE_SKIPPED
		}
	}
	k.finishDrill(ctx, d, pb.DrillState_DRILL_ABORTED, "aborted by "+operator, in, now)
	return drillReply{drill: proto.Clone(d).(*pb.Drill)}
}

// drillTick follows the running drill's moves and ends it.
func (k *controller) drillTick(ctx context.Context, in failover.Input, snap []observed, now time.Time) {
	d := k.drill
	if d == nil || d.GetState() != pb.DrillState_DRILL_RUNNING {
		return
	}
	start := time.UnixMilli(d.GetStartedAtUnixMs())
	changed := false
	pending := 0
	b := k.book
	b.mu.Lock()
	done := b.moves.Done()
	b.mu.Unlock()
	for _, m := range d.GetMoves() {
		if m.GetState() != pb.MoveState_MOVE_PENDING {
			continue
		}
		cv, _ := cellView(in, m.GetCellId())
		l, ok := cv.Leader()
		arrived := ok && (l.Site == m.GetToSite() || (failover.DrillKind(d.GetKind()) == failover.DrillEvacuate && l.Site != d.GetSite()))
		if !arrived {
			pending++
			continue
		}
		m.State, m.ToNode, m.ToSite = pb.MoveState_MOVE_DONE, l.Node, l.Site
		m.DurationMs = now.Sub(start).Milliseconds()
		if r, ok := done[m.GetCellId()]; ok && !r.At.Before(start) {
			m.DurationMs = r.Duration.Milliseconds()
		}
		changed = true
	}
	switch {
	case pending == 0:
		k.finishDrill(ctx, d, pb.DrillState_DRILL_SUCCEEDED, "", in, now)
		return
	case now.Sub(start) > k.drillTimeout:
		var left []string
		for _, m := range d.GetMoves() {
			if m.GetState() == pb.MoveState_MOVE_PENDING {
				m.State, m.Error = pb.MoveState_MOVE_FAILED, "not moved before the drill timeout"
				left = append(left, fmt.Sprintf("cell %d", m.GetCellId()))
			}
		}
		k.finishDrill(ctx, d, pb.DrillState_DRILL_FAILED, fmt.Sprintf("timed out after %s with %s not moved", k.drillTimeout, strings.Join(left, ", ")), in, now)
		return
	}
	d.ClientErrors = sub(routerErrors(snap), d.GetClientErrorsAtStart())
	if changed {
		if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_PutDrill{PutDrill: d}}); err != nil {
			k.logger.Warn("could not record drill progress", "drill", d.GetId(), "error", err)
		}
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// finishDrill records a drill's end, its audit entry and event.
func (k *controller) finishDrill(ctx context.Context, d *pb.Drill, st pb.DrillState, reason string, in failover.Input, now time.Time) {
	_, snap := k.input(now)
	d.State, d.Reason, d.FinishedAtUnixMs = st, reason, now.UnixMilli()
	d.ClientErrors = sub(routerErrors(snap), d.GetClientErrorsAtStart())
	if in.Cells != nil {
		_, after, _ := failover.LeadersPerSite(in.Sites, in.Cells, nil)
		d.LeadersAfter = leadersPB(after)
	}
	outcome := strings.TrimPrefix(strings.ToLower(st.String()), "drill_")
	if reason != "" {
		outcome += ": " + reason
	}
	if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_PutDrill{PutDrill: d}}); err != nil {
		k.logger.Warn("could not record the drill's end", "drill", d.GetId(), "error", err)
	}
	if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{Operator: d.GetOperator(), Action: "drill " + d.GetKind(), Detail: drillDetail(d), Outcome: outcome}}}); err != nil {
		k.logger.Warn("could not audit the drill's end", "drill", d.GetId(), "error", err)
	}
	k.event(ctx, k.term, &pb.MetaEvent{Kind: string(EventDrillFinished), DrillId: d.GetId(), Site: d.GetSite(), CellId: d.GetCellId(), Reason: outcome,
		DurationMs: now.Sub(time.UnixMilli(d.GetStartedAtUnixMs())).Milliseconds()})
}

// routerErrors sums the client-visible errors the routers counted.
func routerErrors(snap []observed) uint64 {
	var n uint64
	for _, o := range snap {
		if o.obs.GetKind() == observerKindRouter {
			n += o.obs.GetRequestsFailed()
		}
	}
	return n
}
