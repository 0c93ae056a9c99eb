package gossip

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func TestThreeMembersConverge(t *testing.T) {
	t.Parallel()
	start := time.Now()
	n1, _, r1 := startPool(t)
	t.Logf("converged in %s", time.Since(start))

	m, _ := member(r1.Agent, "n2")
	if m.Meta.GetSite() != "hz-a" || m.Meta.GetClientAddr() != "n2.client:9000" {
		t.Errorf("r1 sees n2's meta %v", m.Meta)
	}
	self, _ := member(n1.Agent, "n1")
	if self.Addr != n1.Addr() {
		t.Errorf("n1 lists itself at %s, Addr() is %s", self.Addr, n1.Addr())
	}
}

func TestMetaUpdateReachesOthers(t *testing.T) {
	t.Parallel()
	n1, n2, r1 := startPool(t)

	drain(r1.Changes())
	n1.meta.set(&pb.MemberMeta{Kind: "node", Site: "hz-a", ClientAddr: "n1.client:9000",
		Leads: []*pb.LeaderClaim{{CellId: 7, Term: 3}}})
	start := time.Now()
	n1.UpdateMeta()

	select {
	case <-r1.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("r1: no Changes signal within 5s of n1's meta update")
	}
	waitFor(t, 5*time.Second, "n1's claim seen by n2 and r1", func() string {
		for _, observer := range []*testMember{n2, r1} {
			m, _ := member(observer.Agent, "n1")
			if leads := m.Meta.GetLeads(); len(leads) != 1 || leads[0].GetCellId() != 7 || leads[0].GetTerm() != 3 {
				return fmt.Sprintf("%s sees n1's claims %v", observer.cfg.Name, leads)
			}
		}
		return ""
	})
	t.Logf("meta update seen by both after %s", time.Since(start))
}

func TestUpdateMetaCoalesces(t *testing.T) {
	t.Parallel()
	n1 := startMember(t, "n1")
	r1 := startMember(t, "r1", n1.Addr())
	before := n1.meta.calls.Load()

	const updates = 1000
	for term := uint64(1); term <= updates; term++ {
		n1.meta.set(&pb.MemberMeta{Kind: "node", Leads: []*pb.LeaderClaim{{CellId: 1, Term: term}}})
		n1.UpdateMeta()
		if term%50 == 0 {
			time.Sleep(5 * time.Millisecond) // bursts: let an update be in flight meanwhile
		}
	}
	// The last request may still be pending: the trailing update carries
	// the newest meta.
	waitFor(t, 5*time.Second, "r1 sees the last term", func() string {
		m, _ := member(r1.Agent, "n1")
		if leads := m.Meta.GetLeads(); len(leads) != 1 || leads[0].GetTerm() != updates {
			return fmt.Sprintf("n1's claims %v", leads)
		}
		return ""
	})
	if reads := n1.meta.calls.Load() - before; reads > updates/10 {
		t.Errorf("Meta read %d times for %d UpdateMeta calls; want them coalesced", reads, updates)
	} else {
		t.Logf("%d UpdateMeta calls, %d Meta reads", updates, reads)
	}
}

func TestMemberStartedBeforeItsSeedJoinsLater(t *testing.T) {
	t.Parallel()
	seedAddr := freePort(t) // nothing listens there yet
	early := startMember(t, "n2", seedAddr)
	if err := seesAlive(early, "n2"); err != "" {
		t.Fatal(err)
	}

	cfg, meta, logs := testConfig(t, "n1", seedAddr)
	seed := startWith(t, cfg, meta, logs)
	took := waitFor(t, 10*time.Second, "joined once the seed started", func() string {
		if err := seesAlive(early, "n1", "n2"); err != "" {
			return err
		}
		return seesAlive(seed, "n1", "n2")
	})
	t.Logf("joined %s after the seed started (RejoinInterval %s)", took, cfg.RejoinInterval)
}

func TestClosedMemberIsSeenLeft(t *testing.T) {
	t.Parallel()
	n1, n2, r1 := startPool(t)

	start := time.Now()
	if err := n2.Close(); err != nil {
		t.Fatalf("close n2: %v", err)
	}
	closeTook := time.Since(start)
	waitFor(t, 5*time.Second, "n2 seen left", func() string {
		for _, observer := range []*testMember{n1, r1} {
			if m, _ := member(observer.Agent, "n2"); m.State != StateLeft {
				return fmt.Sprintf("%s sees n2 %q", observer.cfg.Name, m.State)
			}
		}
		return ""
	})
	t.Logf("n2 seen left by both %s after Close began (Close took %s)", time.Since(start), closeTook)
	if err := n2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Sequential, so that the detection time it logs is not skewed by the
// other tests' load.
func TestKilledMemberIsSuspectThenDead(t *testing.T) {
	n1, n2, r1 := startPool(t)
	observers := []*testMember{n1, r1}

	if err := n2.closeWithoutLeave(); err != nil {
		t.Fatalf("kill n2: %v", err)
	}
	killed := time.Now()
	sawSuspect := map[string]bool{}
	notAlive := map[string]time.Duration{}
	dead := map[string]time.Duration{}
	for len(dead) < len(observers) && time.Since(killed) < 10*time.Second {
		for _, o := range observers {
			m, _ := member(o.Agent, "n2")
			name := o.cfg.Name
			if m.State == StateSuspect {
				sawSuspect[name] = true
			}
			if _, ok := notAlive[name]; !ok && m.State != StateAlive {
				notAlive[name] = time.Since(killed)
			}
			if _, ok := dead[name]; !ok && m.State == StateDead {
				dead[name] = time.Since(killed)
			}
			if m.State == StateLeft {
				t.Fatalf("%s sees killed n2 as left", name)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, o := range observers {
		name := o.cfg.Name
		if _, ok := dead[name]; !ok {
			m, _ := member(o.Agent, "n2")
			t.Errorf("%s: n2 is %q 10s after it was killed, want dead", name, m.State)
		}
	}
	t.Logf("killed n2: not alive after %v, dead after %v, suspect seen by %v", notAlive, dead, sawSuspect)
	// At least the member whose probe failed first logged the suspicion;
	// if none saw it, memberlist's log line changed (see logwriter.go).
	if len(sawSuspect) == 0 {
		t.Errorf("no observer saw n2 suspect before dead")
	}
	if m, ok := member(n1.Agent, "n2"); ok && m.Meta.GetClientAddr() != "n2.client:9000" {
		t.Errorf("dead n2 listed without its meta: %+v", m)
	}
}

func TestOversizedMetaIsTrimmedAndGossiped(t *testing.T) {
	t.Parallel()
	n1 := startMember(t, "n1")
	r1 := startMember(t, "r1", n1.Addr())

	big := &pb.MemberMeta{Kind: "node", Site: "hz-a", ClientAddr: "n1.client:9000"}
	for cell := range uint64(300) {
		big.Leads = append(big.Leads, &pb.LeaderClaim{CellId: 1000 + cell, Term: 1 << 40})
	}
	if size := proto.Size(big); size <= memberlist.MetaMaxSize {
		t.Fatalf("test meta is %d bytes, want more than %d", size, memberlist.MetaMaxSize)
	}
	n1.meta.set(big)
	for range 5 {
		n1.UpdateMeta()
		time.Sleep(20 * time.Millisecond)
	}

	var seen *pb.MemberMeta
	waitFor(t, 5*time.Second, "r1 sees n1's trimmed claims", func() string {
		m, _ := member(r1.Agent, "n1")
		if len(m.Meta.GetLeads()) == 0 {
			return fmt.Sprintf("n1's meta %v", m.Meta)
		}
		seen = m.Meta
		return ""
	})
	if seen.GetKind() != "node" || seen.GetSite() != "hz-a" || seen.GetClientAddr() != "n1.client:9000" {
		t.Errorf("trimmed meta lost its identity: %v", seen)
	}
	if size := proto.Size(seen); size > memberlist.MetaMaxSize {
		t.Errorf("gossiped meta is %d bytes, limit %d", size, memberlist.MetaMaxSize)
	}
	kept := len(seen.GetLeads())
	if kept >= len(big.Leads) {
		t.Fatalf("kept %d claims of %d", kept, len(big.Leads))
	}
	for i, claim := range seen.GetLeads() {
		if !proto.Equal(claim, big.Leads[i]) {
			t.Fatalf("claim %d is %v, want %v: claims must be dropped from the end", i, claim, big.Leads[i])
		}
	}
	if warnings := strings.Count(n1.logs.String(), "dropped leader claims"); warnings != 1 {
		t.Errorf("warned %d times about dropped claims, want once", warnings)
	}
	t.Logf("kept %d of %d claims (%d bytes)", kept, len(big.Leads), proto.Size(seen))
}

func TestStartRejectsInvalidConfigAndBusyPort(t *testing.T) {
	t.Parallel()
	if _, err := Start(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Start(Config{}) = %v, want ErrInvalidConfig", err)
	}
	n1 := startMember(t, "n1")
	cfg, _, _ := testConfig(t, "n2", n1.Addr())
	if a, err := Start(cfg); err == nil {
		_ = a.Close()
		t.Errorf("Start on n1's busy address %s succeeded", n1.Addr())
	}
}

// Sequential: it counts goroutines of this package and memberlist, so no
// other test may run agents meanwhile.
func TestCloseStopsEveryGoroutine(t *testing.T) {
	a := startMember(t, "n1")
	b := startMember(t, "r1", a.Addr(), freePort(t)) // an unreachable seed keeps the rejoin loop busy
	waitFor(t, 10*time.Second, "joined", func() string { return seesAlive(b, "n1", "r1") })
	a.UpdateMeta()
	b.UpdateMeta()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.closeWithoutLeave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "all goroutines stopped", func() string {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n")[1:] { // [0] is this goroutine
			if strings.Contains(g, "hashicorp/memberlist") || strings.Contains(g, "router/gossip.(*") {
				return "still running:\n" + g
			}
		}
		return ""
	})
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
