package meta

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
)

// fakeVoter is one meta voter's Control service: it leads or names the
// leader, and counts the drills it was asked to start.
type fakeVoter struct {
	pb.UnimplementedControlServer
	id, leaderID, leaderAddr string
	down                     bool // answers UNAVAILABLE without a hint
	startErr                 error
	starts                   atomic.Int32
	token                    atomic.Value
}

func (v *fakeVoter) notLeader() error {
	if v.down {
		return rpcstatus.Error(codes.Unavailable, "", "starting", nil)
	}
	return rpcstatus.NotLeader(GroupID, v.leaderID, v.leaderAddr, 3)
}

func (v *fakeVoter) StartDrill(ctx context.Context, _ *pb.DrillRequest) (*pb.Drill, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		v.token.Store(md.Get("authorization")[0])
	}
	if v.leaderID != v.id {
		return nil, v.notLeader()
	}
	v.starts.Add(1)
	if v.startErr != nil {
		return nil, v.startErr
	}
	return &pb.Drill{Id: "d-" + v.id}, nil
}

func (v *fakeVoter) GetMetaStatus(context.Context, *pb.MetaStatusRequest) (*pb.MetaStatus, error) {
	if v.down {
		return nil, v.notLeader()
	}
	return &pb.MetaStatus{AnsweredBy: v.id, MetaLeaderId: v.leaderID}, nil
}

// fakeMeta serves three voters (the first node of each site); leader is
// the index of the one that leads.
func fakeMeta(t *testing.T, leader int) (*topology.Topology, []*fakeVoter) {
	t.Helper()
	sites := []string{"hz-a", "hz-b", "sh-a"}
	voters := make([]*fakeVoter, len(sites))
	addrs := make([]string, len(sites))
	spec := topology.Spec{Environment: "test",
		Sites: []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}}}
	for i := range sites {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		voters[i] = &fakeVoter{id: sites[i] + "-1"}
		srv := grpc.NewServer()
		pb.RegisterControlServer(srv, voters[i])
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		spec.Nodes = append(spec.Nodes, topology.Node{ID: voters[i].id, Site: sites[i], RaftAddr: fmt.Sprintf("127.0.0.1:%d", i+1), ClientAddr: addrs[i]})
	}
	for _, v := range voters {
		v.leaderID, v.leaderAddr = voters[leader].id, addrs[leader]
	}
	spec.Cells = []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"},
		Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return topo, voters
}

func newTestClient(t *testing.T, topo *topology.Topology) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Topology: topo, Token: "secret", CallTimeout: time.Second, RetryPause: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startDrill(ctx context.Context, c *Client) (*pb.Drill, error) {
	var d *pb.Drill
	err := c.Call(ctx, func(ctx context.Context, cl pb.ControlClient) (err error) {
		d, err = cl.StartDrill(ctx, &pb.DrillRequest{})
		return err
	})
	return d, err
}

// Call follows the NOT_LEADER hint of the first voter to the leader, with
// the operator token, once.
func TestClientCallFollowsTheLeader(t *testing.T) {
	topo, voters := fakeMeta(t, 2)
	c := newTestClient(t, topo)
	d, err := startDrill(context.Background(), c)
	if err != nil || d.GetId() != "d-sh-a-1" {
		t.Fatalf("drill %v, err %v; want it started by the leader sh-a-1", d, err)
	}
	if n := voters[2].starts.Load(); n != 1 {
		t.Fatalf("the leader was asked %d times, want once", n)
	}
	if tok, _ := voters[2].token.Load().(string); tok != "Bearer secret" {
		t.Fatalf("authorization %q, want the bearer token", tok)
	}
}

// A call the leader failed while recording it may have happened: it is
// not sent again, anywhere.
func TestClientCallNeverRepeatsAnUnknownOutcome(t *testing.T) {
	topo, voters := fakeMeta(t, 0)
	voters[0].startErr = rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonDrillOutcomeUnknown, "router: recording the drill: timeout", nil)
	c := newTestClient(t, topo)
	_, err := startDrill(context.Background(), c)
	if rpcstatus.Reason(err) != rpcstatus.ReasonDrillOutcomeUnknown {
		t.Fatalf("err %v, want DRILL_OUTCOME_UNKNOWN", err)
	}
	if n := voters[0].starts.Load(); n != 1 {
		t.Fatalf("the leader was asked %d times, want once", n)
	}
}

// Status prefers the leader's answer; with no voter answering, Status says
// so at once and AwaitStatus at ctx's end.
func TestClientStatus(t *testing.T) {
	topo, voters := fakeMeta(t, 1)
	c := newTestClient(t, topo)
	ms, err := c.Status(context.Background(), &pb.MetaStatusRequest{})
	if err != nil || ms.GetAnsweredBy() != "hz-b-1" {
		t.Fatalf("status %v, err %v; want the leader's answer", ms, err)
	}
	for _, v := range voters {
		v.down = true
	}
	if _, err := c.Status(context.Background(), &pb.MetaStatusRequest{}); err == nil {
		t.Fatal("no voter answers, yet no error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.AwaitStatus(ctx, &pb.MetaStatusRequest{})
	if ctx.Err() == nil || err == nil {
		t.Fatalf("AwaitStatus returned %v before its deadline", err)
	}
}
