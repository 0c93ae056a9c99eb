package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
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
	// The leadership first: a refusal is then audited on the leader, which
	// can write it.
	if !c.meta.IsLeader() {
		return nil, c.notLeader(c.meta)
	}
	operator, err := c.authenticate(ctx)
	if err != nil {
		action := "drill abort"
		if req != nil {
			action = "drill " + req.GetKind()
		}
		c.auditRefusal(ctx, AuditOperatorUnauthenticated, &pb.AuditEntry{Action: action, Detail: drillRequestDetail(req)}, err)
		return nil, err
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

// drillRequestDetail describes a drill request for the audit log (nil: an
// abort).
func drillRequestDetail(req *pb.DrillRequest) string {
	if req == nil {
		return "abort the running drill"
	}
	return fmt.Sprintf("%s site %q cell %d target %q dry_run %v", req.GetKind(), req.GetSite(), req.GetCellId(), req.GetTargetSite(), req.GetDryRun())
}
