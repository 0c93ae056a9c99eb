package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cellpay/cellpay/api/auth"
)

// surface is one gRPC listener of the cluster and what it registered.
type surface struct {
	name     string
	addr     string
	services map[string]grpc.ServiceInfo
}

// callMethod calls fullMethod with an empty request (every request type
// decodes from no bytes), unary or streaming, and returns the status.
func callMethod(ctx context.Context, conn *grpc.ClientConn, fullMethod string, stream bool) error {
	if !stream {
		return conn.Invoke(ctx, fullMethod, &emptypb.Empty{}, &emptypb.Empty{})
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, fullMethod)
	if err != nil {
		return err
	}
	_ = s.SendMsg(&emptypb.Empty{})
	_ = s.CloseSend()
	return s.RecvMsg(&emptypb.Empty{})
}

// Every method every listener registered refuses a caller without a
// certificate, and a caller whose role the table does not allow
// (PERMISSION_DENIED); one it allows gets past the authorizer (any other
// answer). A new RPC without roles in auth.Methods fails here, as does a
// listener that forgot its interceptors.
func TestEveryMethodIsAuthorized(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 10*time.Second) // operators configured: their calls reach the token check
	node := c.Node(c.Topology.Nodes()[0].ID)
	c.mu.Lock()
	rt := c.routers[c.Topology.Sites()[0].ID]
	c.mu.Unlock()
	surfaces := []surface{
		{"node client", node.ClientAddr(), node.ServiceInfo()},
		{"raft", c.Topology.Nodes()[0].RaftAddr, node.Host().TransportServiceInfo()},
		{"router", rt.Addr(), rt.ServiceInfo()},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	calls := 0
	for _, sf := range surfaces {
		if len(sf.services) == 0 {
			t.Fatalf("%s registered no services", sf.name)
		}
		// Without a certificate: no TLS at all, and TLS without a client
		// certificate. Both never reach a handler.
		for _, creds := range []credentials.TransportCredentials{insecure.NewCredentials(),
			credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})} {
			conn, err := grpc.NewClient("passthrough:///"+sf.addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			for svc, info := range sf.services {
				m := info.Methods[0]
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				err := callMethod(cctx, conn, "/"+svc+"/"+m.Name, m.IsClientStream || m.IsServerStream)
				ccancel()
				if code := status.Code(err); code != codes.Unavailable && code != codes.Unauthenticated && code != codes.DeadlineExceeded {
					t.Errorf("%s /%s/%s without a certificate: %v, want a refusal", sf.name, svc, m.Name, err)
				}
			}
			_ = conn.Close()
		}
		for _, role := range auth.Roles {
			conn, err := grpc.NewClient("passthrough:///"+sf.addr, c.DialOption(role))
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(sf.services))
			for svc := range sf.services {
				names = append(names, svc)
			}
			sort.Strings(names)
			for _, svc := range names {
				for _, m := range sf.services[svc].Methods {
					full := "/" + svc + "/" + m.Name
					cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
					err := callMethod(cctx, conn, full, m.IsClientStream || m.IsServerStream)
					ccancel()
					calls++
					allowed := auth.Allowed(auth.Methods[full], role)
					denied := status.Code(err) == codes.PermissionDenied
					if allowed && denied {
						t.Errorf("%s %s as %s: %v, but the table allows it", sf.name, full, role, err)
					}
					if !allowed && !denied {
						t.Errorf("%s %s as %s: %v, want PERMISSION_DENIED", sf.name, full, role, err)
					}
				}
			}
			_ = conn.Close()
		}
	}
	if calls < 100 {
		t.Fatalf("only %d calls made", calls)
	}
}

// Slow clients cannot hold the router's HTTP server: a slowloris (headers
// never finished) and a trickled body are cut off by the server's read
// timeouts, and normal requests are answered all the while.
func TestRouterHTTPSurvivesSlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	addr := c.HTTPAddr("hz-a")
	const slowConns = 50
	var conns []net.Conn
	for i := 0; i < slowConns; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		if i%2 == 0 { // slowloris: a request line and one header, never the end
			_, err = fmt.Fprintf(conn, "GET /status.json HTTP/1.1\r\nHost: %s\r\n", addr)
		} else { // a body promised and never sent
			_, err = fmt.Fprintf(conn, "POST /v1/accounts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
	}()
	// Normal requests are answered while the slow ones hang.
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 5; i++ {
		resp, err := hc.Get("http://" + addr + "/status.json")
		if err != nil {
			t.Fatalf("a normal request while %d slow clients hang: %v", slowConns, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a normal request: %d", resp.StatusCode)
		}
	}
	// Every slow connection is closed by the server within its read
	// timeouts (headers 5 s, the whole request 10 s), plus slack for a
	// loaded machine.
	deadline := time.Now().Add(25 * time.Second)
	for i, conn := range conns {
		_ = conn.SetReadDeadline(deadline)
		buf := make([]byte, 4096)
		for {
			_, err := conn.Read(buf)
			if err == nil {
				continue // an error answer (408/400) before the close
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow connection %d still open after 25 s", i)
			}
			break // closed by the server
		}
	}
}
