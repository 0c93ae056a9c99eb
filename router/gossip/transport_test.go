package gossip

import (
	"fmt"
	"net"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/chaos/fabric"
)

// startFabricMember starts a member of site whose streams and datagrams go
// through f.
func startFabricMember(t *testing.T, f *fabric.Fabric, name, site string, seeds ...string) *testMember {
	t.Helper()
	addr := freePort(t)
	f.Register(addr, site)
	cfg, meta, logs := testConfig(t, name, addr, seeds...)
	cfg.Dialer = f.Dialer(site)
	cfg.WrapPacketConn = func(pc net.PacketConn) net.PacketConn { return f.PacketConn(site, pc) }
	return startWith(t, cfg, meta, logs)
}

func memberState(m *testMember, name string) string {
	got, ok := member(m.Agent, name)
	if !ok {
		return StateDead // Reaped, or never seen: not alive either way.
	}
	return got.State
}

// TestFabricCutsGossip: with the fabric's transport, a member in a site cut
// off from the others is declared dead by them (gossip is cut like Raft), and
// is alive again after the heal.
func TestFabricCutsGossip(t *testing.T) {
	f := fabric.New(1)
	t.Cleanup(func() { f.Close() })
	n1 := startFabricMember(t, f, "n1", "a")
	n2 := startFabricMember(t, f, "n2", "b", n1.Addr())
	r1 := startFabricMember(t, f, "r1", "c", n1.Addr())
	waitFor(t, 15*time.Second, "all three see all three alive", func() string {
		for _, m := range []*testMember{n1, n2, r1} {
			if err := seesAlive(m, "n1", "n2", "r1"); err != "" {
				return err
			}
		}
		return ""
	})

	f.Isolate("c")
	took := waitFor(t, 20*time.Second, "r1 dead to n1 and n2", func() string {
		for _, m := range []*testMember{n1, n2} {
			if s := memberState(m, "r1"); s != StateDead {
				return fmt.Sprintf("%s sees r1 %s", m.cfg.Name, s)
			}
		}
		return ""
	})
	t.Logf("isolated member declared dead after %s", took)
	if s := memberState(n1, "n2"); s != StateAlive {
		t.Fatalf("n1 sees n2 %s during the cut of site c only; want alive", s)
	}

	f.HealAll()
	waitFor(t, 20*time.Second, "all three alive again after the heal", func() string {
		for _, m := range []*testMember{n1, n2, r1} {
			if err := seesAlive(m, "n1", "n2", "r1"); err != "" {
				return err
			}
		}
		return ""
	})
}

// TestFabricDelaysGossip: gossip travels the emulated WAN, so a meta change
// reaches the other site no sooner than the link's one-way delay. (Without
// the fabric it arrives within a gossip interval, often sooner: five changes
// all at least the delay late would be a coincidence.)
func TestFabricDelaysGossip(t *testing.T) {
	f := fabric.New(1)
	t.Cleanup(func() { f.Close() })
	const oneWay = 60 * time.Millisecond // The round trip stays under ProbeTimeout.
	f.SetDelay("a", "b", oneWay, 0)
	n1 := startFabricMember(t, f, "n1", "a")
	n2 := startFabricMember(t, f, "n2", "b", n1.Addr())
	waitFor(t, 15*time.Second, "both alive", func() string {
		if err := seesAlive(n1, "n1", "n2"); err != "" {
			return err
		}
		return seesAlive(n2, "n1", "n2")
	})
	for term := uint64(1); term <= 5; term++ {
		n1.meta.set(&pb.MemberMeta{Kind: "node", Site: "a", Leads: []*pb.LeaderClaim{{CellId: 1, Term: term}}})
		n1.UpdateMeta()
		took := waitFor(t, 15*time.Second, fmt.Sprintf("n2 sees term %d", term), func() string {
			got, ok := member(n2.Agent, "n1")
			if !ok || got.Meta == nil || len(got.Meta.GetLeads()) == 0 || got.Meta.GetLeads()[0].GetTerm() != term {
				return fmt.Sprintf("n2 sees n1 as %+v", got)
			}
			return ""
		})
		if took < oneWay {
			t.Fatalf("a meta change crossed a %s link in %s", oneWay, took)
		}
	}
}
