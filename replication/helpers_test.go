package replication

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cellpay/cellpay/chaos/fabric"
)

// counterSM is the state machine of the tests: each command "key=value"
// sets kv/key, bumps a counter, and records its index; an index seen twice
// is recorded as a double application (which must never happen).
type counterSM struct {
	mu       sync.Mutex
	restored int
}

func (s *counterSM) Apply(tx *Tx, e Entry) any {
	seen := fmt.Appendf(nil, "seen/%020d", e.Index)
	if _, found, _ := tx.Get(seen); found {
		tx.Set(fmt.Appendf(nil, "double/%020d", e.Index), nil)
	}
	tx.Set(seen, nil)
	n := uint64(0)
	if v, found, _ := tx.Get([]byte("count")); found {
		n = binary.BigEndian.Uint64(v)
	}
	tx.Set([]byte("count"), binary.BigEndian.AppendUint64(nil, n+1))
	for i, c := range e.Data {
		if c == '=' {
			tx.Set(append([]byte("kv/"), e.Data[:i]...), e.Data[i+1:])
			break
		}
	}
	return e.Index
}

func (s *counterSM) Restored(uint64) {
	s.mu.Lock()
	s.restored++
	s.mu.Unlock()
}

// digest is a replica's state digest at its applied index: replicas agree
// once they have applied the same entries.
func digest(t testing.TB, g *Group) string {
	t.Helper()
	_, sha, err := g.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sha[:])
}

func count(t testing.TB, g *Group) uint64 {
	t.Helper()
	v, found, err := g.Reader().Get([]byte("count"))
	if err != nil || !found {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func doubles(t testing.TB, g *Group) int {
	t.Helper()
	n := 0
	if err := g.Reader().Scan([]byte("double/"), []byte("double0"), func(k, v []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

// testNode is one node of a test cluster; it keeps its address and data
// directory across restarts.
type testNode struct {
	id, site, addr, dir string
	host                *Host
}

// testCluster runs nodes, one per site, over real loopback TCP through a
// chaos fabric, so tests can cut sites off the way a fiber cut does.
type testCluster struct {
	t      testing.TB
	fab    *fabric.Fabric
	nodes  []*testNode
	groups []uint64
	mutate func(*Config)
	newSM  func() StateMachine
}

var sites = []string{"hz-a", "hz-b", "sh-a", "sh-b"}

func newTestCluster(t testing.TB, nodes int, groups []uint64, mutate func(*Config)) *testCluster {
	t.Helper()
	return newTestClusterWith(t, nodes, groups, mutate, func() StateMachine { return &counterSM{} })
}

func newTestClusterWith(t testing.TB, nodes int, groups []uint64, mutate func(*Config), newSM func() StateMachine) *testCluster {
	t.Helper()
	c := &testCluster{t: t, fab: fabric.New(1), groups: groups, mutate: mutate, newSM: newSM}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.host != nil {
				_ = n.host.Close()
			}
		}
		_ = c.fab.Close()
	})
	for i := 0; i < nodes; i++ {
		c.nodes = append(c.nodes, &testNode{id: fmt.Sprintf("n%d", i+1), site: sites[i], dir: t.TempDir()})
	}
	lns := make([]net.Listener, nodes)
	for i := range c.nodes {
		lns[i] = c.listen(i)
	}
	for i := range c.nodes {
		c.start(i, lns[i])
	}
	return c
}

func (c *testCluster) peers() []Peer {
	var ps []Peer
	for _, n := range c.nodes[:3] {
		ps = append(ps, Peer{NodeID: n.id, Addr: n.addr})
	}
	return ps
}

// listen opens node i's listener, on its old address after a restart.
func (c *testCluster) listen(i int) net.Listener {
	c.t.Helper()
	n := c.nodes[i]
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	c.fab.Register(n.addr, n.site)
	return ln
}

// start (re)starts node i on ln and its replicas of every group. Only the
// first three nodes are initial voters; later ones start with no groups.
func (c *testCluster) start(i int, ln net.Listener) {
	c.t.Helper()
	n := c.nodes[i]
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Listener, cfg.AdvertiseAddr = n.id, n.dir, ln, n.addr
	cfg.Dialer = c.fab.Dialer(n.site)
	cfg.InterSiteRTT = 10 * time.Millisecond
	cfg.HeartbeatIntervalMin = 100 * time.Millisecond // 1 s timeouts: safe on a busy 2-core machine under -race
	cfg.RaftLogOutput = io.Discard
	cfg.Storage.CacheSizeBytes = 8 << 20
	cfg.Storage.MemTableSizeBytes = 4 << 20
	if c.mutate != nil {
		c.mutate(&cfg)
	}
	h, err := NewHost(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	n.host = h
	c.startGroups(i)
}

func (c *testCluster) restart(i int) { c.start(i, c.listen(i)) }

func (c *testCluster) startGroups(i int) {
	c.t.Helper()
	if i >= 3 {
		return
	}
	for _, g := range c.groups {
		if _, err := c.nodes[i].host.StartGroup(g, c.newSM(), c.peers()); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *testCluster) stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].host.Close(); err != nil {
		c.t.Fatalf("closing %s: %v", c.nodes[i].id, err)
	}
	c.nodes[i].host = nil
}

func (c *testCluster) group(i int, g uint64) *Group {
	c.t.Helper()
	gr, err := c.nodes[i].host.Group(g)
	if err != nil {
		c.t.Fatal(err)
	}
	return gr
}

// eventually retries check until it returns nil or the bound passes. It is
// replicationtest.EventuallyNoError for this package's own tests, which
// cannot import replicationtest: replicationtest imports replication, and
// a package's internal tests may not import a package that imports it.
func eventually(t testing.TB, bound time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leader returns the index of the node leading g among the running nodes in
// among (all when nil), waiting for one to exist and be known.
func (c *testCluster) leader(g uint64, among []int) int {
	c.t.Helper()
	if among == nil {
		for i, n := range c.nodes {
			if n.host != nil {
				among = append(among, i)
			}
		}
	}
	found := -1
	eventually(c.t, 30*time.Second, fmt.Sprintf("leader of group %d", g), func() error {
		for _, i := range among {
			if gr, err := c.nodes[i].host.Group(g); err == nil && gr.IsLeader() {
				found = i
				return nil
			}
		}
		return errors.New("no leader")
	})
	return found
}

// propose applies data through the current leader among `among`, following
// leader changes, and returns the applied index.
func (c *testCluster) propose(g uint64, among []int, data string) uint64 {
	c.t.Helper()
	var index uint64
	eventually(c.t, 30*time.Second, fmt.Sprintf("propose to group %d", g), func() error {
		l := c.leader(g, among)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.group(l, g).Apply(ctx, []byte(data))
		if err != nil {
			if errors.Is(err, ErrOutcomeUnknown) {
				c.t.Fatalf("test proposals must not end unknown: %v", err)
			}
			return err
		}
		index = res.(uint64)
		return nil
	})
	return index
}

// converged waits until every running replica of g (among `among`) has
// applied at least index and all have the same state digest.
func (c *testCluster) converged(g uint64, among []int, index uint64) {
	c.t.Helper()
	if among == nil {
		for i, n := range c.nodes {
			if n.host != nil {
				if _, err := n.host.Group(g); err == nil {
					among = append(among, i)
				}
			}
		}
	}
	eventually(c.t, 60*time.Second, fmt.Sprintf("group %d converges at index >= %d", g, index), func() error {
		var first string
		for _, i := range among {
			gr := c.group(i, g)
			if a := gr.AppliedIndex(); a < index {
				return fmt.Errorf("%s applied %d < %d", c.nodes[i].id, a, index)
			}
			d := digest(c.t, gr)
			if first == "" {
				first = d
			} else if d != first {
				return fmt.Errorf("%s digest differs", c.nodes[i].id)
			}
		}
		return nil
	})
}
