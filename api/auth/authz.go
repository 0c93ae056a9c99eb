package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Any is every role: status reads and the health service.
var Any = Roles

// Methods is the one table of who may call what: every gRPC method of
// every cellpay service, by full name, and the roles allowed to call it.
// A method missing here is refused to everyone (and a test enumerating the
// registered services fails until it is added).
var Methods = map[string][]Role{
	// Raft between the replicas of a cell: nodes only.
	"/cellpay.v1.RaftTransport/AppendEntries":         {RoleNode},
	"/cellpay.v1.RaftTransport/AppendEntriesPipeline": {RoleNode},
	"/cellpay.v1.RaftTransport/RequestVote":           {RoleNode},
	"/cellpay.v1.RaftTransport/RequestPreVote":        {RoleNode},
	"/cellpay.v1.RaftTransport/TimeoutNow":            {RoleNode},
	"/cellpay.v1.RaftTransport/InstallSnapshot":       {RoleNode},

	// A node's Cell service: money moves only from the routers (and
	// cross-cell credits only from the payer cell's node); the control
	// plane opens overdraft accounts; reads and checks for the
	// reconcilers and operators.
	"/cellpay.v1.Cell/CreateAccount":    {RoleRouter, RoleNode},
	"/cellpay.v1.Cell/Deposit":          {RoleRouter},
	"/cellpay.v1.Cell/Transfer":         {RoleRouter},
	"/cellpay.v1.Cell/Payout":           {RoleRouter},
	"/cellpay.v1.Cell/CreditIn":         {RoleNode},
	"/cellpay.v1.Cell/GetAccount":       {RoleRouter, RoleNode, RoleOperator},
	"/cellpay.v1.Cell/GetTransfer":      {RoleRouter, RoleNode, RoleOperator},
	"/cellpay.v1.Cell/ListTransfers":    {RoleRouter, RoleNode, RoleOperator},
	"/cellpay.v1.Cell/GetPayout":        {RoleRouter, RoleNode, RoleOperator},
	"/cellpay.v1.Cell/ListPayouts":      {RoleRouter, RoleNode, RoleOperator},
	"/cellpay.v1.Cell/Checkpoint":       {RoleNode, RoleOperator},
	"/cellpay.v1.Cell/CheckpointDigest": {RoleNode, RoleOperator},
	"/cellpay.v1.Cell/ReconcileCell":    {RoleNode, RoleOperator},
	"/cellpay.v1.Cell/ReplicaStatus":    {RoleRouter, RoleNode, RoleOperator},

	// The control plane: leader moves only from a node (the controller on
	// the meta leader; its term is checked by the service); drills and
	// overdraft accounts only from operators (who also show their token);
	// status for every role.
	"/cellpay.v1.Control/Observe":                {RoleNode, RoleOperator},
	"/cellpay.v1.Control/MoveLeader":             {RoleNode},
	"/cellpay.v1.Control/GetMetaStatus":          Any,
	"/cellpay.v1.Control/StartDrill":             {RoleOperator},
	"/cellpay.v1.Control/AbortDrill":             {RoleOperator},
	"/cellpay.v1.Control/CreateOverdraftAccount": {RoleOperator},
	"/cellpay.v1.Control/ListOverdraftAccounts":  {RoleOperator},

	// The routers' public API: clients; operators may read.
	"/cellpay.v1.Payments/CreateAccount": {RoleClient},
	"/cellpay.v1.Payments/Deposit":       {RoleClient},
	"/cellpay.v1.Payments/Transfer":      {RoleClient},
	"/cellpay.v1.Payments/Payout":        {RoleClient},
	"/cellpay.v1.Payments/GetAccount":    {RoleClient, RoleOperator},
	"/cellpay.v1.Payments/GetTransfer":   {RoleClient, RoleOperator},
	"/cellpay.v1.Payments/ListTransfers": {RoleClient, RoleOperator},
	"/cellpay.v1.Payments/GetPayout":     {RoleClient, RoleOperator},
	"/cellpay.v1.Payments/ListPayouts":   {RoleClient, RoleOperator},
	"/cellpay.v1.RouterAdmin/Status":     Any,
	"/cellpay.v1.RouterAdmin/Observe":    {RoleNode, RoleOperator},

	// The standard health service: probes from every role.
	"/grpc.health.v1.Health/Check": Any,
	"/grpc.health.v1.Health/Watch": Any,
	"/grpc.health.v1.Health/List":  Any,
}

// Refusal reasons, the reason label of cellpay_auth_refused_total.
const (
	ReasonNoCertificate = "no_certificate" // no verified client certificate
	ReasonNoIdentity    = "no_identity"    // a certificate without a valid cellpay:// identity
	ReasonRole          = "role"           // an identity whose role may not call the method
	ReasonUnknownMethod = "unknown_method" // a method the table does not name
	ReasonPeerMismatch  = "peer_mismatch"  // an identity that differs from the one the request claims
)

// Refusal is one refused call, for logs and counters. It never holds a
// secret: the identity is the certificate's, the method the one called.
type Refusal struct {
	Surface string // "node-grpc", "raft", "router-grpc", "router-http", ...
	Method  string
	Reason  string
	Peer    string // the caller's address
	Caller  string // its identity ("role/name"), if it showed one
	Detail  string
}

// Authorizer enforces Methods on one server (Surface names it in logs and
// counters). Insecure (asked for with --insecure, never in production)
// lets every call through: there are no identities without TLS.
type Authorizer struct {
	Surface  string
	Insecure bool
	Logger   *slog.Logger
	// Refused, if set, is told of every refusal (counts it).
	Refused func(Refusal)
	// Methods overrides the table (tests); nil: Methods.
	Methods map[string][]Role
	// ClaimedNode, if set, reads the node id a request message claims to
	// come from (a Raft header's id); a node whose certificate names
	// another node is refused (ReasonPeerMismatch), on every message of a
	// stream too.
	ClaimedNode func(msg any) (nodeID string, ok bool)
}

// PeerIdentity is the identity in the verified client certificate of the
// call in ctx, if any.
func PeerIdentity(ctx context.Context) (Identity, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return Identity{}, false
	}
	id, err := IdentityOf(info.State.PeerCertificates[0])
	return id, err == nil
}

// Allowed reports whether roles include role.
func Allowed(roles []Role, role Role) bool { return slices.Contains(roles, role) }

// check authorizes a call of method in ctx; the error is the gRPC status
// the caller gets (UNAUTHENTICATED or PERMISSION_DENIED).
func (a *Authorizer) check(ctx context.Context, method string) error {
	if a.Insecure {
		return nil
	}
	table := a.Methods
	if table == nil {
		table = Methods
	}
	r := Refusal{Surface: a.Surface, Method: method}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.Peer = p.Addr.String()
	}
	roles, known := table[method]
	id, hasID := PeerIdentity(ctx)
	if code, refused := decide(&r, roles, known, id, hasID); refused {
		return a.refuse(r, code)
	}
	return nil
}

// decide is the one rule of both the gRPC and the HTTP checks: a method in
// the table, a verified identity, a role the method allows. A refusal fills
// r's reason and detail and names the code.
func decide(r *Refusal, roles []Role, known bool, id Identity, hasID bool) (codes.Code, bool) {
	if hasID {
		r.Caller = id.String()
	}
	switch {
	case !known:
		r.Reason, r.Detail = ReasonUnknownMethod, "the method has no roles in the table"
		return codes.PermissionDenied, true
	case !hasID:
		r.Reason, r.Detail = ReasonNoCertificate, "no verified client certificate with a cellpay:// identity"
		return codes.Unauthenticated, true
	case !Allowed(roles, id.Role):
		r.Reason, r.Detail = ReasonRole, fmt.Sprintf("a %s may not call it (allowed: %s)", id.Role, rolesText(roles))
		return codes.PermissionDenied, true
	}
	return codes.OK, false
}

// Refuse logs and reports r and returns the status for the caller; for
// checks made inside a handler (a peer that claims another identity).
func (a *Authorizer) Refuse(r Refusal, code codes.Code) error {
	if r.Surface == "" {
		r.Surface = a.Surface
	}
	return a.refuse(r, code)
}

func (a *Authorizer) refuse(r Refusal, code codes.Code) error {
	if a.Logger != nil {
		a.Logger.Warn("auth: call refused", "surface", r.Surface, "method", r.Method, "reason", r.Reason,
			"caller", r.Caller, "peer", r.Peer, "detail", r.Detail)
	}
	if a.Refused != nil {
		a.Refused(r)
	}
	return status.Errorf(code, "auth: %s refused: %s", r.Method, r.Detail)
}

func rolesText(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// ServerOptions are the interceptors that enforce the table on a gRPC
// server, every unary and streaming method.
func (a *Authorizer) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := a.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			if err := a.checkClaim(ctx, info.FullMethod, req); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := a.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			if a.ClaimedNode != nil && !a.Insecure {
				ss = &claimCheckedStream{ServerStream: ss, a: a, method: info.FullMethod}
			}
			return h(srv, ss)
		}),
	}
}

// checkClaim refuses a message whose claimed node is not the caller's
// certificate (see ClaimedNode).
func (a *Authorizer) checkClaim(ctx context.Context, method string, msg any) error {
	if a.ClaimedNode == nil || a.Insecure {
		return nil
	}
	claimed, ok := a.ClaimedNode(msg)
	if !ok {
		return nil
	}
	id, _ := PeerIdentity(ctx) // check passed: there is one
	if id.Role == RoleNode && id.Name == claimed {
		return nil
	}
	r := Refusal{Method: method, Reason: ReasonPeerMismatch, Caller: id.String(),
		Detail: fmt.Sprintf("the message claims node %q, the certificate names %s", claimed, id)}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.Peer = p.Addr.String()
	}
	return a.Refuse(r, codes.PermissionDenied)
}

// claimCheckedStream checks the claim of every message received.
type claimCheckedStream struct {
	grpc.ServerStream
	a      *Authorizer
	method string
}

func (s *claimCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.a.checkClaim(s.Context(), s.method, m)
}

// HTTP wraps an HTTP handler of a surface whose every route needs one of
// roles (the provider's API, the chaos proxy's control API, metrics): a
// request without a verified client certificate of such a role gets 401
// or 403, logged and reported.
func (a *Authorizer) HTTP(roles []Role, next http.Handler) http.Handler {
	if a.Insecure {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := Refusal{Surface: a.Surface, Method: req.Method + " " + req.URL.Path, Peer: req.RemoteAddr}
		var id Identity
		hasID := false
		if req.TLS != nil && len(req.TLS.VerifiedChains) > 0 && len(req.TLS.PeerCertificates) > 0 {
			var err error
			id, err = IdentityOf(req.TLS.PeerCertificates[0])
			hasID = err == nil
		}
		if code, refused := decide(&r, roles, true, id, hasID); refused {
			_ = a.refuse(r, code)
			httpCode := http.StatusForbidden
			if code == codes.Unauthenticated {
				httpCode = http.StatusUnauthorized
			}
			http.Error(w, "auth: "+r.Detail, httpCode)
			return
		}
		next.ServeHTTP(w, req)
	})
}
