package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// certOf is a certificate carrying the given URI SANs (only what the
// authorizer reads: it trusts the TLS layer to have verified the chain).
func certOf(uris ...string) *x509.Certificate {
	c := &x509.Certificate{}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			panic(err)
		}
		c.URIs = append(c.URIs, parsed)
	}
	return c
}

// callerCtx is the context of a call from a peer that showed cert (nil:
// none), verified or not.
func callerCtx(cert *x509.Certificate, verified bool) context.Context {
	st := tls.ConnectionState{}
	if cert != nil {
		st.PeerCertificates = []*x509.Certificate{cert}
		if verified {
			st.VerifiedChains = [][]*x509.Certificate{{cert}}
		}
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 4242},
		AuthInfo: credentials.TLSInfo{State: st}})
}

func TestIdentityOf(t *testing.T) {
	id, err := IdentityOf(certOf("cellpay://node/hz-a-1"))
	if err != nil || id != (Identity{Role: RoleNode, Name: "hz-a-1"}) {
		t.Fatalf("IdentityOf = %v, %v", id, err)
	}
	if got := id.URI().String(); got != "cellpay://node/hz-a-1" {
		t.Fatalf("URI %q", got)
	}
	for _, bad := range [][]string{
		nil,
		{"spiffe://node/x"},
		{"cellpay://admin/x"},
		{"cellpay://node/"},
		{"cellpay://node/a b"},
		{"cellpay://node/a", "cellpay://router/b"},
	} {
		if id, err := IdentityOf(certOf(bad...)); err == nil {
			t.Errorf("IdentityOf(%v) = %v, want an error", bad, id)
		}
	}
}

// Every call is checked against the table: who is not in it for the
// method is refused, logged and reported, with the right code.
func TestAuthorizerEnforcesTheTable(t *testing.T) {
	var refused []Refusal
	a := &Authorizer{Surface: "node-grpc", Refused: func(r Refusal) { refused = append(refused, r) }}
	node, router, client := certOf("cellpay://node/hz-a-1"), certOf("cellpay://router/r-hz"), certOf("cellpay://client/shop")
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		method string
		code   codes.Code
		reason string
	}{
		{"a node's credit", callerCtx(node, true), "/cellpay.v1.Cell/CreditIn", codes.OK, ""},
		{"a router's transfer", callerCtx(router, true), "/cellpay.v1.Cell/Transfer", codes.OK, ""},
		{"a router's credit", callerCtx(router, true), "/cellpay.v1.Cell/CreditIn", codes.PermissionDenied, ReasonRole},
		{"a client at a node", callerCtx(client, true), "/cellpay.v1.Cell/Transfer", codes.PermissionDenied, ReasonRole},
		{"a router's TimeoutNow", callerCtx(router, true), "/cellpay.v1.RaftTransport/TimeoutNow", codes.PermissionDenied, ReasonRole},
		{"no certificate", callerCtx(nil, false), "/cellpay.v1.Control/MoveLeader", codes.Unauthenticated, ReasonNoCertificate},
		{"an unverified certificate", callerCtx(node, false), "/cellpay.v1.Control/MoveLeader", codes.Unauthenticated, ReasonNoCertificate},
		{"no peer at all", context.Background(), "/cellpay.v1.Cell/GetAccount", codes.Unauthenticated, ReasonNoCertificate},
		{"a method not in the table", callerCtx(node, true), "/cellpay.v1.Cell/DropEverything", codes.PermissionDenied, ReasonUnknownMethod},
		{"health from a client", callerCtx(client, true), "/grpc.health.v1.Health/Check", codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused = nil
			err := a.check(tc.ctx, tc.method)
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if tc.code == codes.OK {
				if len(refused) != 0 {
					t.Fatalf("an allowed call was reported refused: %+v", refused)
				}
				return
			}
			if len(refused) != 1 || refused[0].Reason != tc.reason || refused[0].Method != tc.method || refused[0].Surface != "node-grpc" {
				t.Fatalf("refusals %+v, want one with reason %s", refused, tc.reason)
			}
		})
	}
	insecure := &Authorizer{Insecure: true}
	if err := insecure.check(context.Background(), "/cellpay.v1.Cell/Transfer"); err != nil {
		t.Fatalf("insecure: %v", err)
	}
}

func TestAuthorizerHTTP(t *testing.T) {
	var refused []Refusal
	a := &Authorizer{Surface: "provider-http", Refused: func(r Refusal) { refused = append(refused, r) }}
	h := a.HTTP([]Role{RoleNode}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	serve := func(cert *x509.Certificate) int {
		req := httptest.NewRequest(http.MethodPost, "/payouts", nil)
		if cert != nil {
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := serve(certOf("cellpay://node/hz-a-1")); code != http.StatusTeapot {
		t.Fatalf("a node: %d", code)
	}
	if code := serve(nil); code != http.StatusUnauthorized {
		t.Fatalf("no certificate: %d", code)
	}
	if code := serve(certOf("cellpay://client/shop")); code != http.StatusForbidden {
		t.Fatalf("a client: %d", code)
	}
	if len(refused) != 2 || refused[0].Reason != ReasonNoCertificate || refused[1].Reason != ReasonRole {
		t.Fatalf("refusals %+v", refused)
	}
}

// Every method of every cellpay service (and of the health service) has
// its roles in the table, and the table names no method that does not
// exist: a new RPC without roles fails here.
func TestMethodsCoverEveryService(t *testing.T) {
	seen := map[string]bool{}
	for _, sd := range []grpc.ServiceDesc{pb.Cell_ServiceDesc, pb.Control_ServiceDesc, pb.Payments_ServiceDesc,
		pb.RouterAdmin_ServiceDesc, pb.RaftTransport_ServiceDesc, healthpb.Health_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range sd.Streams {
			names = append(names, s.StreamName)
		}
		for _, name := range names {
			full := "/" + sd.ServiceName + "/" + name
			seen[full] = true
			roles, ok := Methods[full]
			if !ok || len(roles) == 0 {
				t.Errorf("%s has no roles in auth.Methods", full)
			}
		}
	}
	for full := range Methods {
		if !seen[full] {
			t.Errorf("auth.Methods names %s, which no service has", full)
		}
	}
}
