package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/failover"
)

// drillRequest is a StartDrill or AbortDrill handed to the controller's
// goroutine, which owns the controller's state.
type drillRequest struct {
	start    *pb.DrillRequest // nil: abort
	operator string
	reply    chan drillReply
}

type drillReply struct {
	drill *pb.Drill
	err   error
}

// TokenSHA256 is the hex SHA-256 of an operator token, as ControlConfig's
// Operators holds it.
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authenticate returns the operator whose token the call carries.
func (c *Control) authenticate(ctx context.Context) (string, error) {
	if len(c.cfg.Operators) == 0 {
		return "", status.Error(codes.PermissionDenied, "router: no operators are configured on this node, so drills are refused")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var token string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			token = t
		}
	}
	if token == "" {
		return "", status.Error(codes.Unauthenticated, "router: drills need an operator token (metadata authorization: Bearer TOKEN)")
	}
	got := TokenSHA256(token)
	names := make([]string, 0, len(c.cfg.Operators))
	for name := range c.cfg.Operators {
		names = append(names, name)
	}
	sort.Strings(names)
	found := ""
	for _, name := range names {
		if subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(c.cfg.Operators[name]))) == 1 {
			found = name
		}
	}
	if found == "" {
		return "", status.Error(codes.Unauthenticated, "router: the operator token is not known")
	}
	return found, nil
}

// StartDrill implements pb.ControlServer.
func (c *Control) StartDrill(ctx context.Context, req *pb.DrillRequest) (*pb.Drill, error) {
	return c.drillCall(ctx, req)
}

// AbortDrill implements pb.ControlServer.
func (c *Control) AbortDrill(ctx context.Context, _ *pb.AbortDrillRequest) (*pb.Drill, error) {
	return c.drillCall(ctx, nil)
}

func (c *Control) drillCall(ctx context.Context, req *pb.DrillRequest) (*pb.Drill, error) {
	if _, err := c.bound(); err != nil {
		return nil, err
	}
	if c.meta == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "router: node %s holds no meta replica; ask one of %v", c.host.NodeID(), voterIDs(c.cfg.Topology))
	}
	operator, err := c.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if !c.meta.IsLeader() {
		return nil, c.notLeader(c.meta)
	}
	r := drillRequest{start: req, operator: operator, reply: make(chan drillReply, 1)}
	select {
	case c.ctrl.requests <- r:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	select {
	case rep := <-r.reply:
		return rep.drill, rep.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func refused(format string, args ...any) error {
	return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonDrillRefused, "drill refused: "+fmt.Sprintf(format, args...), nil)
}

// handleDrill runs on the controller's goroutine, in its current term.
func (k *controller) handleDrill(ctx context.Context, r drillRequest) drillReply {
	if !k.follow(ctx) {
		return drillReply{err: k.c.notLeader(k.c.meta)}
	}
	pctx, cancel := context.WithTimeout(k.termCtx, k.c.cfg.MoveTimeout)
	defer cancel()
	now := k.c.cfg.Now()
	if r.start == nil {
		return k.abortDrill(pctx, r.operator, now)
	}
	d, next, err := k.planDrill(r.start, r.operator, now)
	if err == nil && !r.start.GetDryRun() && len(d.GetWarnings()) > 0 {
		err = refused("%s", strings.Join(d.GetWarnings(), "; "))
	}
	if err != nil || r.start.GetDryRun() {
		if err != nil && !r.start.GetDryRun() {
			// a refused drill is audited too, with who asked and why
			detail := fmt.Sprintf("%s site %q cell %d target %q", r.start.GetKind(), r.start.GetSite(), r.start.GetCellId(), r.start.GetTargetSite())
			if _, aerr := k.record(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{Operator: r.operator, Action: "drill " + r.start.GetKind(), Detail: detail, Outcome: "refused: " + status.Convert(err).Message()}}}); aerr != nil {
				k.c.logger.Warn("could not audit a refused drill", "error", aerr)
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
	k.event(pctx, k.term, &pb.MetaEvent{Kind: "drill_started", DrillId: d.GetId(), Site: d.GetSite(), CellId: d.GetCellId(), Reason: detail})
	k.drill = d
	return drillReply{drill: proto.Clone(d).(*pb.Drill)} // the controller goes on updating d
}

func drillDetail(d *pb.Drill) string {
	switch d.GetKind() {
	case "move":
		return fmt.Sprintf("move cell %d to %s (%d moves)", d.GetCellId(), d.GetTargetSite(), len(d.GetMoves()))
	}
	return fmt.Sprintf("%s site %s (%d moves)", d.GetKind(), d.GetSite(), len(d.GetMoves()))
}

// planDrill checks a drill and plans it against the controller's state,
// returning the drill and the state it sets.
func (k *controller) planDrill(req *pb.DrillRequest, operator string, now time.Time) (*pb.Drill, failover.State, error) {
	topo := k.c.cfg.Topology
	cfg := k.c.cfg.Failover
	if k.drill != nil && k.drill.GetState() == pb.DrillState_DRILL_RUNNING && !req.GetDryRun() {
		return nil, failover.State{}, rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonDrillBusy,
			fmt.Sprintf("drill refused: drill %s (%s) is running; wait for it or abort it", k.drill.GetId(), drillDetail(k.drill)), nil)
	}
	in, _ := k.input(now)
	next := k.state.Clone()
	d := &pb.Drill{Id: fmt.Sprintf("drill-%d", now.UnixMilli()), Kind: req.GetKind(), Site: req.GetSite(), CellId: req.GetCellId(),
		TargetSite: req.GetTargetSite(), Operator: operator, State: pb.DrillState_DRILL_PLANNED}
	ignoreHoldDown := false
	switch req.GetKind() {
	case "evacuate", "failback":
		if _, ok := topo.Site(req.GetSite()); !ok {
			return nil, next, status.Errorf(codes.InvalidArgument, "router: drill %s: site %q is not in the topology", req.GetKind(), req.GetSite())
		}
	case "move":
		c, ok := topo.Cell(req.GetCellId())
		if !ok {
			return nil, next, status.Errorf(codes.InvalidArgument, "router: drill move: cell %d is not in the topology", req.GetCellId())
		}
		if _, ok := topo.Site(req.GetTargetSite()); !ok {
			return nil, next, status.Errorf(codes.InvalidArgument, "router: drill move: target site %q is not in the topology", req.GetTargetSite())
		}
		hasReplica := false
		for _, id := range c.Replicas {
			if n, _ := topo.Node(id); n.Site == req.GetTargetSite() {
				hasReplica = true
			}
		}
		if !hasReplica {
			return nil, next, refused("cell %d has no replica in site %s", c.ID, req.GetTargetSite())
		}
	default:
		return nil, next, status.Errorf(codes.InvalidArgument, "router: drill kind %q: want evacuate, move or failback", req.GetKind())
	}
	site := req.GetSite()
	switch req.GetKind() {
	case "evacuate":
		if next.Sites[site].State == failover.Drained {
			return nil, next, refused("site %s is already drained", site)
		}
		// a drain is no failure: the site's count is kept as it is
		next.Sites[site] = failover.SiteStatus{State: failover.Drained, Since: now, Reason: "drill evacuate by " + operator, Failures: next.Sites[site].Failures}
		for _, c := range topo.Cells() {
			inSite, healthyElsewhere := false, 0
			seen := map[string]bool{}
			for _, id := range c.Replicas {
				n, _ := topo.Node(id)
				if n.Site == site {
					inSite = true
				} else if !seen[n.Site] && next.Sites[n.Site].State == failover.Healthy {
					healthyElsewhere++
				}
				seen[n.Site] = true
			}
			if inSite && healthyElsewhere == 0 {
				return nil, next, refused("evacuating %s would leave cell %d without a healthy site among its replicas", site, c.ID)
			}
		}
	case "failback":
		switch st := next.Sites[site].State; st {
		case failover.Suspect, failover.Down:
			return nil, next, refused("site %s is %s: the controller fails back once observers see it healthy", site, st)
		}
		// the operator vouches for the site: its hold-down is waived and its
		// failures forgiven (Failures 0)
		next.Sites[site] = failover.SiteStatus{State: failover.Healthy, Reason: "drill failback by " + operator}
		for _, c := range topo.Cells() {
			if c.Home == site {
				delete(next.Pins, c.ID)
			}
		}
		ignoreHoldDown = true
	case "move":
		if st := next.Sites[req.GetTargetSite()].State; st != failover.Healthy {
			return nil, next, refused("target site %s is %s", req.GetTargetSite(), st)
		}
		next.Pins[req.GetCellId()] = req.GetTargetSite()
	}
	// A drill plans every cell it concerns, including those the controller
	// is moving or about to retry: their moves are the drill's to follow.
	in.Moving = nil
	moves, holds := failover.Plan(cfg, next, in, ignoreHoldDown)
	var mine []failover.Move
	for _, m := range moves {
		switch {
		case req.GetKind() == "evacuate" && m.FromSite == site,
			req.GetKind() == "failback" && m.ToSite == site,
			req.GetKind() == "move" && m.Cell == req.GetCellId():
			mine = append(mine, m)
		}
	}
	for _, h := range holds {
		if cv, ok := cellView(in, h.Cell); ok {
			l, led := cv.Leader()
			switch {
			case req.GetKind() == "evacuate" && led && l.Site == site,
				req.GetKind() == "move" && h.Cell == req.GetCellId():
				return nil, next, refused("cell %d: %s", h.Cell, h.Reason)
			}
		}
	}
	if req.GetKind() == "move" && len(mine) == 0 {
		cv, _ := cellView(in, req.GetCellId())
		if l, ok := cv.Leader(); !ok {
			return nil, next, refused("cell %d has no leader the controller can see", req.GetCellId())
		} else if l.Site == req.GetTargetSite() {
			return nil, next, refused("cell %d already leads in %s", req.GetCellId(), req.GetTargetSite())
		}
	}
	for _, m := range mine {
		d.Moves = append(d.Moves, &pb.PlannedMove{CellId: m.Cell, FromNode: m.FromNode, ToNode: m.ToNode, FromSite: m.FromSite, ToSite: m.ToSite, State: pb.MoveState_MOVE_PENDING})
	}
	before, after, over := failover.LeadersPerSite(in.Sites, in.Cells, mine)
	d.LeadersBefore, d.LeadersAfter, d.Warnings = leadersPB(before), leadersPB(after), over
	return d, next, nil
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
	switch d.GetKind() {
	case "evacuate", "failback":
		s := next.Sites[d.GetSite()]
		rec, err := k.setSite(ctx, d.GetSite(), s)
		if err != nil {
			return err
		}
		k.event(ctx, k.term, &pb.MetaEvent{Kind: "site_state", Site: d.GetSite(), State: rec.GetState(), Reason: s.Reason, DrillId: d.GetId()})
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
	next := k.state.Clone()
	switch d.GetKind() {
	case "evacuate":
		next.Sites[d.GetSite()] = failover.SiteStatus{State: failover.Healthy, Since: now, Reason: "drill aborted by " + operator, Failures: next.Sites[d.GetSite()].Failures}
	case "move":
		delete(next.Pins, d.GetCellId())
	}
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
func (c *Control) drillTick(ctx context.Context, k *controller, in failover.Input, snap []observed, now time.Time) {
	d := k.drill
	if d == nil || d.GetState() != pb.DrillState_DRILL_RUNNING {
		return
	}
	start := time.UnixMilli(d.GetStartedAtUnixMs())
	changed := false
	pending := 0
	b := k.book
	b.mu.Lock()
	done := make(map[uint64]movedRecord, len(b.doneMoves))
	for id, m := range b.doneMoves {
		done[id] = m
	}
	b.mu.Unlock()
	for _, m := range d.GetMoves() {
		if m.GetState() != pb.MoveState_MOVE_PENDING {
			continue
		}
		cv, _ := cellView(in, m.GetCellId())
		l, ok := cv.Leader()
		arrived := ok && (l.Site == m.GetToSite() || (d.GetKind() == "evacuate" && l.Site != d.GetSite()))
		if !arrived {
			pending++
			continue
		}
		m.State, m.ToNode, m.ToSite = pb.MoveState_MOVE_DONE, l.Node, l.Site
		m.DurationMs = now.Sub(start).Milliseconds()
		if r, ok := done[m.GetCellId()]; ok && !r.at.Before(start) {
			m.DurationMs = r.duration.Milliseconds()
		}
		changed = true
	}
	switch {
	case pending == 0:
		k.finishDrill(ctx, d, pb.DrillState_DRILL_SUCCEEDED, "", in, now)
		return
	case now.Sub(start) > c.cfg.DrillTimeout:
		var left []string
		for _, m := range d.GetMoves() {
			if m.GetState() == pb.MoveState_MOVE_PENDING {
				m.State, m.Error = pb.MoveState_MOVE_FAILED, "not moved before the drill timeout"
				left = append(left, fmt.Sprintf("cell %d", m.GetCellId()))
			}
		}
		k.finishDrill(ctx, d, pb.DrillState_DRILL_FAILED, fmt.Sprintf("timed out after %s with %s not moved", c.cfg.DrillTimeout, strings.Join(left, ", ")), in, now)
		return
	}
	d.ClientErrors = sub(routerErrors(snap), d.GetClientErrorsAtStart())
	if changed {
		if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_PutDrill{PutDrill: d}}); err != nil {
			c.logger.Warn("could not record drill progress", "drill", d.GetId(), "error", err)
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
		k.c.logger.Warn("could not record the drill's end", "drill", d.GetId(), "error", err)
	}
	if _, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{Operator: d.GetOperator(), Action: "drill " + d.GetKind(), Detail: drillDetail(d), Outcome: outcome}}}); err != nil {
		k.c.logger.Warn("could not audit the drill's end", "drill", d.GetId(), "error", err)
	}
	k.event(ctx, k.term, &pb.MetaEvent{Kind: "drill_finished", DrillId: d.GetId(), Site: d.GetSite(), CellId: d.GetCellId(), Reason: outcome,
		DurationMs: now.Sub(time.UnixMilli(d.GetStartedAtUnixMs())).Milliseconds()})
}

// routerErrors sums the client-visible errors the routers counted.
func routerErrors(snap []observed) uint64 {
	var n uint64
	for _, o := range snap {
		if o.obs.GetKind() == "router" {
			n += o.obs.GetRequestsFailed()
		}
	}
	return n
}
