package cell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/fabric"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// testCluster is three cellpay nodes, one per site, in this process, on
// loopback: Raft through a chaos fabric (so a site can be cut off), the
// Cell service over real gRPC.
type testCluster struct {
	t       testing.TB
	fab     *fabric.Fabric
	topo    *topology.Topology
	mu      sync.Mutex // guards nodes: a restart races the traffic
	nodes   []*Node
	dirs    []string
	ids     []string
	sites   []string
	raftLn  []string
	clients []pb.CellClient
	conns   []*grpc.ClientConn
	// configure, if set, adjusts node i's config at every start.
	configure func(i int, cfg *NodeConfig)
}

const testTopology = `
environment: test
sites:
  - {id: hz-a, region: hangzhou}
  - {id: hz-b, region: hangzhou}
  - {id: sh-a, region: shanghai}
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-a, sh-a], rtt: 30ms}
  - {sites: [hz-b, sh-a], rtt: 30ms}
nodes:
  - {id: n1, site: hz-a, raft_addr: "%s", client_addr: "%s"}
  - {id: n2, site: hz-b, raft_addr: "%s", client_addr: "%s"}
  - {id: n3, site: sh-a, raft_addr: "%s", client_addr: "%s"}
cells:
  - {id: 1, home: hz-a, replicas: [n1, n2, n3], slots: ["0-2047"]}
  - {id: 2, home: hz-b, replicas: [n1, n2, n3], slots: ["2048-4095"]}
`

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	return newTestClusterWith(t, nil)
}

// newTestClusterWith is newTestCluster with configure applied to each
// node's config at every start.
func newTestClusterWith(t testing.TB, configure func(i int, cfg *NodeConfig)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, fab: fabric.New(1), ids: []string{"n1", "n2", "n3"}, sites: []string{"hz-a", "hz-b", "sh-a"}, configure: configure}
	var addrs []any
	raftLns, clientLns := make([]net.Listener, 3), make([]net.Listener, 3)
	for i := range c.ids {
		r, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		raftLns[i], clientLns[i] = r, cl
		c.raftLn = append(c.raftLn, r.Addr().String())
		c.fab.Register(r.Addr().String(), c.sites[i])
		addrs = append(addrs, r.Addr().String(), cl.Addr().String())
		c.dirs = append(c.dirs, t.TempDir())
	}
	topo, err := topology.Parse([]byte(fmt.Sprintf(testTopology, addrs...)))
	if err != nil {
		t.Fatal(err)
	}
	c.topo = topo
	c.nodes = make([]*Node, 3)
	t.Cleanup(func() {
		for _, conn := range c.conns {
			_ = conn.Close()
		}
		for _, n := range c.nodes {
			if n != nil {
				_ = n.Close(time.Second)
			}
		}
		_ = c.fab.Close()
	})
	for i := range c.ids {
		c.start(i, raftLns[i], clientLns[i])
		n, _ := topo.Node(c.ids[i])
		conn, err := grpc.NewClient("passthrough:///"+n.ClientAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		c.conns = append(c.conns, conn)
		c.clients = append(c.clients, pb.NewCellClient(conn))
	}
	return c
}

func (c *testCluster) start(i int, raftLn, clientLn net.Listener) {
	c.t.Helper()
	cfg := NodeConfig{
		Topology: c.topo, NodeID: c.ids[i], DataDir: c.dirs[i],
		RaftListener: raftLn, ClientListener: clientLn, Dialer: c.fab.Dialer(c.sites[i]),
		HeartbeatIntervalMin: 100 * time.Millisecond, RaftLogOutput: io.Discard,
		Logger: quietLogger(),
	}
	if c.configure != nil {
		c.configure(i, &cfg)
	}
	node, err := StartNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.setNode(i, node)
}

func (c *testCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *testCluster) setNode(i int, n *Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[i] = n
}

// restart starts node i again on its old addresses and data directory.
func (c *testCluster) restart(i int) {
	c.t.Helper()
	n, _ := c.topo.Node(c.ids[i])
	var raftLn, clientLn net.Listener
	var err error
	// The old sockets may linger for a moment after a stop.
	replicationtest.EventuallyNoError(c.t, 10*time.Second, func() error {
		if raftLn == nil {
			if raftLn, err = net.Listen("tcp", n.RaftAddr); err != nil {
				return err
			}
		}
		clientLn, err = net.Listen("tcp", n.ClientAddr)
		return err
	}, "re-listen")
	c.start(i, raftLn, clientLn)
}

// route calls fn on the node that leads the cell, following leader hints
// and retrying UNAVAILABLE with the same request (as a router does) until
// ctx ends. Business errors return at once.
func (c *testCluster) route(ctx context.Context, cellID uint64, fn func(context.Context, pb.CellClient) error) error {
	target := 0
	for attempt := 0; ; attempt++ {
		if c.node(target) != nil {
			callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := fn(callCtx, c.clients[target])
			cancel()
			if err == nil {
				return nil
			}
			code := status.Code(err)
			if code != codes.Unavailable && code != codes.DeadlineExceeded && code != codes.Canceled {
				return err
			}
			if id, _, ok := rpcstatus.LeaderHint(err); ok {
				for i, nid := range c.ids {
					if nid == id {
						target = i
					}
				}
				if ctx.Err() != nil {
					return err
				}
				continue
			}
			if ctx.Err() != nil {
				return err
			}
		}
		target = (target + 1) % len(c.ids)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 20 * time.Millisecond):
		}
	}
}

// accountsIn returns n account ids owned by cellID.
func (c *testCluster) accountsIn(cellID uint64, n int, prefix string) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if cl, ok := c.topo.CellOfAccount(id); ok && cl.ID == cellID {
			out = append(out, id)
		}
	}
	return out
}

// converged waits until every replica of the cell reports the same
// applied index and digest, and returns that digest.
func (c *testCluster) converged(cellID uint64) string {
	c.t.Helper()
	var digest string
	replicationtest.EventuallyNoError(c.t, 60*time.Second, func() error {
		var first *pb.ReplicaStatusResponse
		for i, cl := range c.clients {
			if c.node(i) == nil {
				return fmt.Errorf("node %s is down", c.ids[i])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := cl.ReplicaStatus(ctx, &pb.ReplicaStatusRequest{CellId: cellID, WithDigest: true})
			cancel()
			if err != nil {
				return err
			}
			if first == nil {
				first = st
				continue
			}
			if st.GetAppliedIndex() != first.GetAppliedIndex() || string(st.GetStateSha256()) != string(first.GetStateSha256()) {
				return fmt.Errorf("%s at %d, %s at %d (or digests differ)", first.GetNodeId(), first.GetAppliedIndex(), st.GetNodeId(), st.GetAppliedIndex())
			}
		}
		digest = fmt.Sprintf("%x", first.GetStateSha256())
		return nil
	}, fmt.Sprintf("cell %d converges", cellID))
	return digest
}

// checkConserved asserts, on every replica, that balances equal deposits.
func (c *testCluster) checkConserved(cellID uint64, wantDeposited int64) {
	c.t.Helper()
	for i, n := range c.nodes {
		g, err := n.Host().Group(cellID)
		if err != nil {
			c.t.Fatal(err)
		}
		tot, err := ReadTotals(g.Reader())
		if err != nil {
			c.t.Fatal(err)
		}
		if ok, bad := tot.Conserved(); !ok {
			c.t.Fatalf("cell %d on %s: money not conserved: %v", cellID, c.ids[i], bad)
		}
		if tot.Deposited["CNY"] != wantDeposited {
			c.t.Fatalf("cell %d on %s: deposited %d, want %d", cellID, c.ids[i], tot.Deposited["CNY"], wantDeposited)
		}
	}
}

// ledgerTraffic is a workload of transfers between accounts of two cells,
// each transfer sent twice at once (a client retry racing the original).
type ledgerTraffic struct {
	c        *testCluster
	accounts map[uint64][]string
	mu       sync.Mutex
	acked    map[string]*pb.TransferRecord // transfer id -> record acknowledged to the client
	failed   map[string]string             // transfer id -> business error reason
}

const initialBalance = 1_000_000

func newLedgerTraffic(t testing.TB, c *testCluster, perCell int) *ledgerTraffic {
	t.Helper()
	w := &ledgerTraffic{c: c, accounts: map[uint64][]string{}, acked: map[string]*pb.TransferRecord{}, failed: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, cellID := range []uint64{1, 2} {
		w.accounts[cellID] = c.accountsIn(cellID, perCell, fmt.Sprintf("acct-c%d", cellID))
		for _, id := range w.accounts[cellID] {
			err := c.route(ctx, cellID, func(ctx context.Context, cl pb.CellClient) error {
				_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: cellID, Command: &pb.CreateAccount{IdempotencyKey: "create-" + id, AccountId: id, Currency: "CNY"}})
				return err
			})
			if err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
			err = c.route(ctx, cellID, func(ctx context.Context, cl pb.CellClient) error {
				_, err := cl.Deposit(ctx, &pb.DepositRequest{CellId: cellID, Command: &pb.Deposit{IdempotencyKey: "deposit-" + id, AccountId: id, AmountMinor: initialBalance, Currency: "CNY", ExternalRef: "bank-" + id}})
				return err
			})
			if err != nil {
				t.Fatalf("deposit %s: %v", id, err)
			}
		}
	}
	return w
}

// run sends n transfers from `workers` goroutines; transfer k goes to cell
// 1 + k%2, between two pseudo-random accounts of that cell.
func (w *ledgerTraffic) run(t testing.TB, prefix string, n, workers int) {
	var wg sync.WaitGroup
	for p := 0; p < workers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := p; k < n; k += workers {
				cellID := uint64(1 + k%2)
				accts := w.accounts[cellID]
				from, to := accts[(k*7)%len(accts)], accts[(k*13+1)%len(accts)]
				if from == to {
					to = accts[(k*13+2)%len(accts)]
				}
				req := &pb.TransferRequest{CellId: cellID, Command: &pb.Transfer{
					TransferId: fmt.Sprintf("%s-%d", prefix, k), FromAccountId: from, ToAccountId: to,
					AmountMinor: int64(1 + (k*31)%5000), Currency: "CNY",
				}}
				w.send(t, req)
			}
		}()
	}
	wg.Wait()
}

func (w *ledgerTraffic) send(t testing.TB, req *pb.TransferRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results := make([]*pb.TransferRecord, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for d := 0; d < 2; d++ { // the original and a concurrent duplicate
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[d] = w.c.route(ctx, req.GetCellId(), func(ctx context.Context, cl pb.CellClient) error {
				rec, err := cl.Transfer(ctx, req)
				results[d] = rec
				return err
			})
		}()
	}
	wg.Wait()
	id := req.GetCommand().GetTransferId()
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := 0; d < 2; d++ {
		switch {
		case errs[d] == nil:
			if prev, ok := w.acked[id]; ok && prev.GetCreatedAtUnixMs() != results[d].GetCreatedAtUnixMs() {
				t.Errorf("transfer %s acknowledged twice with different records: executed twice", id)
			}
			w.acked[id] = results[d]
		case rpcstatus.Reason(errs[d]) != "":
			if r := rpcstatus.Reason(errs[d]); r != "INSUFFICIENT_FUNDS" {
				t.Errorf("transfer %s: unexpected business error %s: %v", id, r, errs[d])
			}
			w.failed[id] = rpcstatus.Reason(errs[d])
		default:
			t.Errorf("transfer %s: %v", id, errs[d])
		}
	}
	if _, ok := w.acked[id]; ok {
		if _, bad := w.failed[id]; bad {
			t.Errorf("transfer %s both succeeded and failed", id)
		}
	}
}

// verify checks every acknowledged transfer is stored exactly as acked and
// that each account's balance is exactly its deposit plus the acknowledged
// transfers: nothing lost, nothing applied twice.
func (w *ledgerTraffic) verify(t testing.TB) {
	t.Helper()
	want := map[string]int64{}
	for _, accts := range w.accounts {
		for _, a := range accts {
			want[a] = initialBalance
		}
	}
	for id, rec := range w.acked {
		want[rec.GetFromAccountId()] -= rec.GetAmountMinor()
		want[rec.GetToAccountId()] += rec.GetAmountMinor()
		_ = id
	}
	for i, n := range w.c.nodes {
		for cellID, accts := range w.accounts {
			g, err := n.Host().Group(cellID)
			if err != nil {
				t.Fatal(err)
			}
			r := g.Reader()
			for _, a := range accts {
				acc, err := GetAccount(r, a)
				if err != nil {
					t.Fatal(err)
				}
				if acc.GetBalanceMinor() != want[a] {
					t.Fatalf("%s on %s: balance %d, want %d from the acknowledged transfers", a, w.c.ids[i], acc.GetBalanceMinor(), want[a])
				}
			}
			var stored int
			if err := r.Scan([]byte("t/"), []byte("t0"), func(k, v []byte) bool { stored++; return true }); err != nil {
				t.Fatal(err)
			}
			var acked int
			for _, rec := range w.acked {
				if c, _ := w.c.topo.CellOfAccount(rec.GetFromAccountId()); c.ID == cellID {
					acked++
				}
			}
			if stored != acked {
				t.Fatalf("cell %d on %s stores %d transfers, %d were acknowledged", cellID, w.c.ids[i], stored, acked)
			}
		}
	}
}

// Test 1: thousands of concurrent transfers, each sent twice at once: every
// replica ends with the same digest, money is conserved, no transfer is
// applied twice, none acknowledged is lost.
func TestClusterConcurrentTransfersWithDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t)
	w := newLedgerTraffic(t, c, 10)
	w.run(t, "tx", 2000, 32)
	for _, cellID := range []uint64{1, 2} {
		c.converged(cellID)
		c.checkConserved(cellID, 10*initialBalance)
	}
	w.verify(t)
	if len(w.acked)+len(w.failed) != 2000 {
		t.Fatalf("%d acked + %d failed, want 2000 outcomes", len(w.acked), len(w.failed))
	}
}

// Test 3: a node stopped abruptly mid-traffic and restarted converges, and
// nothing acknowledged is lost.
func TestClusterNodeRestartMidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t)
	w := newLedgerTraffic(t, c, 6)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(t, "tx", 1200, 16)
	}()
	time.Sleep(500 * time.Millisecond)
	victim := 1
	stopped := c.node(victim)
	c.setNode(victim, nil)
	if err := stopped.Close(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	c.restart(victim)
	<-done
	for _, cellID := range []uint64{1, 2} {
		c.converged(cellID)
		c.checkConserved(cellID, 6*initialBalance)
	}
	w.verify(t)
}

// Test 4: a leader whose site is cut off acknowledges no write and serves
// no current read; the rest of the cluster carries on.
func TestDeposedLeaderRefusesWritesAndReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t)
	w := newLedgerTraffic(t, c, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Find the leader of cell 1 and cut its site off from the others.
	var leader int
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		for i, n := range c.nodes {
			if g, err := n.Host().Group(1); err == nil && g.IsLeader() {
				leader = i
				return nil
			}
		}
		return errors.New("none")
	}, "leader of cell 1")
	c.fab.Isolate(c.sites[leader])
	from, to := w.accounts[1][0], w.accounts[1][1]
	for k := 0; k < 5; k++ {
		callCtx, cc := context.WithTimeout(ctx, 3*time.Second)
		_, err := c.clients[leader].Transfer(callCtx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{
			TransferId: fmt.Sprintf("isolated-%d", k), FromAccountId: from, ToAccountId: to, AmountMinor: 1, Currency: "CNY"}})
		cc()
		if err == nil {
			t.Fatalf("the cut-off leader acknowledged transfer %d", k)
		}
		callCtx, cc = context.WithTimeout(ctx, 3*time.Second)
		_, err = c.clients[leader].GetAccount(callCtx, &pb.GetAccountRequest{CellId: 1, AccountId: from})
		cc()
		if err == nil {
			t.Fatalf("the cut-off leader served a current read (%d)", k)
		}
	}
	// The majority side elects a leader and serves the same cell.
	others := []int{(leader + 1) % 3, (leader + 2) % 3}
	replicationtest.EventuallyNoError(t, 30*time.Second, func() error {
		for _, i := range others {
			callCtx, cc := context.WithTimeout(ctx, 3*time.Second)
			_, err := c.clients[i].Transfer(callCtx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{
				TransferId: "majority-1", FromAccountId: from, ToAccountId: to, AmountMinor: 1, Currency: "CNY"}})
			cc()
			if err == nil {
				return nil
			}
		}
		return errors.New("no majority node accepted the write")
	}, "majority serves writes")
	c.fab.HealAll()
	c.converged(1)
	g, _ := c.nodes[leader].Host().Group(1)
	for k := 0; k < 5; k++ {
		if _, err := GetTransfer(g.Reader(), from, fmt.Sprintf("isolated-%d", k)); err == nil {
			// It may legitimately have committed only if the majority accepted it; it cannot have.
			t.Fatalf("transfer isolated-%d, refused by the cut-off leader, exists after healing", k)
		}
	}
	if _, err := GetTransfer(g.Reader(), from, "majority-1"); err != nil {
		t.Fatalf("the majority's transfer did not reach the healed node: %v", err)
	}
}

// Requests for the wrong cell, for a cell the node does not host, and
// with bad fields get clear errors naming what is wrong.
func TestServiceRejectsBadRequests(t *testing.T) {
	c := newTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in2 := c.accountsIn(2, 1, "x")[0]
	in1 := c.accountsIn(1, 1, "y")[0]
	cases := []struct {
		name, reason, mention string
		code                  codes.Code
		call                  func(pb.CellClient) error
	}{
		{"wrong cell", rpcstatus.ReasonWrongCell, in2, codes.FailedPrecondition, func(cl pb.CellClient) error {
			_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "k1", AccountId: in2, Currency: "CNY"}})
			return err
		}},
		{"unknown cell", rpcstatus.ReasonCellNotHosted, "cell 9", codes.NotFound, func(cl pb.CellClient) error {
			_, err := cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: 9, AccountId: in1})
			return err
		}},
		{"bad currency", "INVALID_ARGUMENT", "currency", codes.InvalidArgument, func(cl pb.CellClient) error {
			_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "k2", AccountId: in1, Currency: "usd"}})
			return err
		}},
		{"missing key", "INVALID_ARGUMENT", "idempotency_key", codes.InvalidArgument, func(cl pb.CellClient) error {
			_, err := cl.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{AccountId: in1, AmountMinor: 5, Currency: "CNY"}})
			return err
		}},
		{"cross cell", rpcstatus.ReasonCrossCellNotEnabled, in2, codes.FailedPrecondition, func(cl pb.CellClient) error {
			_, err := cl.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t1", FromAccountId: in1, ToAccountId: in2, AmountMinor: 5, Currency: "CNY"}})
			return err
		}},
		{"no command", "INVALID_ARGUMENT", "command", codes.InvalidArgument, func(cl pb.CellClient) error {
			_, err := cl.Transfer(ctx, &pb.TransferRequest{CellId: 1})
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.call(c.clients[0])
		if status.Code(err) != tc.code || rpcstatus.Reason(err) != tc.reason || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: got %v (code %s, reason %q); want code %s, reason %s, mentioning %q", tc.name, err, status.Code(err), rpcstatus.Reason(err), tc.code, tc.reason, tc.mention)
		}
	}
}
