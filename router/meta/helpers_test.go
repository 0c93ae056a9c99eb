package meta

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// Bounds of the helpers: a lone replica elects itself within a few election
// timeouts and a proposal commits in milliseconds, so these only fire when
// something is stuck.
const (
	leaderWaitMax   = 20 * time.Second
	applyTimeoutMax = 10 * time.Second
)

// readAllMax reads every event and audit entry a test writes.
const readAllMax = EventsMax + 1000

// metaNode is one replication host that runs (or will run) the meta group.
type metaNode struct {
	id   string
	addr string
	host *replication.Host
}

// newMetaNode starts a replication host; it closes with the test. mutate,
// if not nil, adjusts its configuration.
func newMetaNode(t testing.TB, id string, mutate func(*replication.Config)) *metaNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Listener, cfg.AdvertiseAddr = id, t.TempDir(), ln, addr
	cfg.RaftLogOutput = io.Discard
	cfg.HeartbeatIntervalMin = 20 * time.Millisecond
	cfg.Storage.CacheSizeBytes = 8 << 20
	cfg.Storage.MemTableSizeBytes = 4 << 20
	if mutate != nil {
		mutate(&cfg)
	}
	host, err := replication.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := host.Close(); err != nil {
			t.Errorf("closing host %s: %v", id, err)
		}
	})
	return &metaNode{id: id, addr: addr, host: host}
}

// metaGroup is what the FSM tests need of the meta group: the in-memory
// twin (newMetaTwin: the FSM over an in-memory store, no Raft) or a real
// group (newMetaLeader: through Raft).
type metaGroup interface {
	Apply(ctx context.Context, data []byte) (any, error)
	Reader() replication.Reader
	Leader() (id, addr string, term uint64)
	IsLeader() bool
}

var (
	_ metaGroup = (*replication.Group)(nil)
	_ metaGroup = (*replicationtest.Twin)(nil)
)

// newMetaTwin runs the meta FSM as group GroupID of an in-memory twin: the
// production state machine and store, without Raft. It leads, in term 1,
// until NewTerm; it closes with the test.
func newMetaTwin(t testing.TB) *replicationtest.Twin {
	t.Helper()
	return replicationtest.New(t, FSM{}, replicationtest.WithGroup(GroupID))
}

// newMetaLeader starts a one-node meta group (group GroupID, FSM) and
// returns it once it leads.
func newMetaLeader(t testing.TB, mutate func(*replication.Config)) (*metaNode, *replication.Group) {
	t.Helper()
	n := newMetaNode(t, "n1", mutate)
	g, err := n.host.StartGroup(GroupID, FSM{}, []replication.Peer{{NodeID: n.id, Addr: n.addr}})
	if err != nil {
		t.Fatal(err)
	}
	replicationtest.Eventually(t, leaderWaitMax, g.IsLeader, "the single meta replica to lead")
	return n, g
}

// applyData proposes raw bytes and returns the FSM's result.
func applyData(t testing.TB, g metaGroup, data []byte) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
	defer cancel()
	out, err := g.Apply(ctx, data)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	r, ok := out.(Result)
	if !ok {
		t.Fatalf("apply returned %T, want meta.Result", out)
	}
	return r
}

// apply marshals cmd and proposes it.
func apply(t testing.TB, g metaGroup, cmd *pb.MetaCommand) Result {
	t.Helper()
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal %v: %v", cmd, err)
	}
	return applyData(t, g, data)
}

// mustApply proposes cmd and fails the test if the FSM refuses it.
func mustApply(t testing.TB, g metaGroup, cmd *pb.MetaCommand) Result {
	t.Helper()
	r := apply(t, g, cmd)
	if r.Err != nil {
		t.Fatalf("apply %v: %v", cmd, r.Err)
	}
	return r
}

// read reads the committed state of g's replica, failing the test on error.
func read(t testing.TB, g metaGroup, eventsMax, auditMax int) *Snapshot {
	t.Helper()
	s, err := Read(g.Reader(), eventsMax, auditMax)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return s
}

// render writes a snapshot as text, one record a line, so two snapshots
// compare with == and a difference is readable.
func render(s *Snapshot) string {
	var b strings.Builder
	line := func(kind string, m proto.Message) {
		text, err := prototext.MarshalOptions{}.Marshal(m)
		if err != nil {
			text = []byte("unrenderable: " + err.Error())
		}
		// prototext's spacing is deliberately unstable: collapse it.
		fmt.Fprintf(&b, "%s %s\n", kind, strings.Join(strings.Fields(string(text)), " "))
	}
	for _, m := range s.Sites {
		line("site", m)
	}
	for _, m := range s.Pins {
		line("pin", m)
	}
	for _, m := range s.Events {
		line("event", m)
	}
	for _, m := range s.Audit {
		line("audit", m)
	}
	if s.Drill != nil {
		line("drill", s.Drill)
	}
	return b.String()
}

// Command builders; at is the proposing leader's clock (Unix ms). Site
// records, pins and drills need a controller's term: asController.

// asController stamps cmd as the controller of g's current meta term
// would: with that term and, for set_site, the version of the site's
// record it reads now.
func asController(t testing.TB, g metaGroup, cmd *pb.MetaCommand) *pb.MetaCommand {
	t.Helper()
	cmd.ControllerTerm = leaderTerm(t, g)
	if r := cmd.GetSetSite(); r != nil {
		cmd.ExpectedSiteVersion = siteVersion(t, g, r.GetSite())
	}
	return cmd
}

// leaderTerm is the term g leads in; the test fails if g does not lead.
func leaderTerm(t testing.TB, g metaGroup) uint64 {
	t.Helper()
	_, _, term := g.Leader()
	if !g.IsLeader() || term == 0 {
		t.Fatalf("the meta replica does not lead (term %d)", term)
	}
	return term
}

// siteVersion is the version of site's record on g's replica (0: none).
func siteVersion(t testing.TB, g metaGroup, site string) uint64 {
	t.Helper()
	for _, r := range read(t, g, 0, 0).Sites {
		if r.GetSite() == site {
			return r.GetVersion()
		}
	}
	return 0
}

func setSiteCmd(at int64, site string, state pb.SiteState) *pb.MetaCommand {
	return &pb.MetaCommand{AtUnixMs: at, Op: &pb.MetaCommand_SetSite{SetSite: &pb.SiteRecord{
		Site: site, State: state, SinceUnixMs: at, Reason: "test",
	}}}
}

func pinCmd(at int64, cellID uint64, site string) *pb.MetaCommand {
	return &pb.MetaCommand{AtUnixMs: at, Op: &pb.MetaCommand_Pin{Pin: &pb.CellPin{CellId: cellID, Site: site}}}
}

func eventCmd(at int64, kind, reason string) *pb.MetaCommand {
	return &pb.MetaCommand{AtUnixMs: at, Op: &pb.MetaCommand_Event{Event: &pb.MetaEvent{Kind: kind, Reason: reason}}}
}

func auditCmd(at int64, operator, action string) *pb.MetaCommand {
	return &pb.MetaCommand{AtUnixMs: at, Op: &pb.MetaCommand_Audit{Audit: &pb.AuditEntry{
		Operator: operator, Action: action, Detail: "detail of " + action, Outcome: "started",
	}}}
}

func drillCmd(at int64, id string, state pb.DrillState) *pb.MetaCommand {
	return &pb.MetaCommand{AtUnixMs: at, Op: &pb.MetaCommand_PutDrill{PutDrill: &pb.Drill{
		Id: id, Kind: "evacuate", Site: "hz-a", Operator: "alice", State: state, StartedAtUnixMs: at,
	}}}
}
