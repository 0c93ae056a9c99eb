package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/client"
)

func startCluster(t *testing.T) *Cluster {
	t.Helper()
	c, err := Start(Config{Dir: t.TempDir(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func newClient(t testing.TB, c *Cluster, region string) *client.Client {
	t.Helper()
	cfg := client.Config{Region: region, Routers: c.RouterAddrs(), Deadline: 20 * time.Second, TLS: c.As(auth.RoleClient).ClientTLS()}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// accounts returns n account ids in cell cellID.
func accounts(c *Cluster, cellID uint64, n int, prefix string) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if cl, ok := c.Topology.CellOfAccount(id); ok && cl.ID == cellID {
			out = append(out, id)
		}
	}
	return out
}

type fund struct {
	c     *Cluster
	accts map[uint64][]string
}

// openAccounts creates and funds perCell accounts in every cell.
func openAccounts(t testing.TB, c *Cluster, cl *client.Client, perCell int, prefix string, balance int64) fund {
	t.Helper()
	ctx := context.Background()
	f := fund{c: c, accts: map[uint64][]string{}}
	for _, cellInfo := range c.Topology.Cells() {
		f.accts[cellInfo.ID] = accounts(c, cellInfo.ID, perCell, prefix)
		for _, id := range f.accts[cellInfo.ID] {
			if _, err := cl.CreateAccount(ctx, id, "CNY"); err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
			if _, err := cl.Deposit(ctx, id, balance, "CNY", "bank-"+id); err != nil {
				t.Fatalf("deposit %s: %v", id, err)
			}
		}
	}
	return f
}

// Test 1: a client in each region creates accounts and transfers through
// its own router; results are correct.
func TestClientsInEachRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	ctx := context.Background()
	for _, region := range []string{"hangzhou", "shanghai"} {
		cl := newClient(t, c, region)
		f := openAccounts(t, c, cl, 2, "acct-"+region, 10_000)
		for cellID, accts := range f.accts {
			rec, err := cl.Transfer(ctx, accts[0], accts[1], 2_500, "CNY")
			if err != nil {
				t.Fatalf("%s: transfer in cell %d: %v", region, cellID, err)
			}
			if rec.GetFromBalanceAfterMinor() != 7_500 || rec.GetToBalanceAfterMinor() != 12_500 {
				t.Fatalf("%s: transfer record %v", region, rec)
			}
			a, err := cl.GetAccount(ctx, accts[1])
			if err != nil || a.GetBalanceMinor() != 12_500 {
				t.Fatalf("%s: GetAccount %v %v", region, a, err)
			}
			got, err := cl.GetTransfer(ctx, rec.GetTransferId(), accts[0])
			if err != nil || got.GetAmountMinor() != 2_500 {
				t.Fatalf("%s: GetTransfer %v %v", region, got, err)
			}
			var be *client.BusinessError
			if _, err := cl.Transfer(ctx, accts[0], accts[1], 1_000_000, "CNY"); !errors.As(err, &be) || be.Reason != "INSUFFICIENT_FUNDS" {
				t.Fatalf("%s: overdraft: %v", region, err)
			}
		}
		if got := cl.CurrentRegion(); got != region {
			t.Fatalf("client of %s used region %s", region, got)
		}
	}
}

// workload runs transfers from many goroutines and records what was acknowledged.
type workload struct {
	mu     sync.Mutex
	acked  map[string]*pb.TransferRecord
	errors []error
}

// ackedCount is how many transfers the workload saw acknowledged so far.
func (w *workload) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *workload) run(ctx context.Context, cl *client.Client, f fund, workers int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	cells := make([]uint64, 0, len(f.accts))
	for id := range f.accts {
		cells = append(cells, id)
	}
	for p := 0; p < workers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				accts := f.accts[cells[(p+k)%len(cells)]]
				from, to := accts[k%len(accts)], accts[(k+1)%len(accts)]
				rec, err := cl.Transfer(ctx, from, to, 1, "CNY", client.WithTransferID(fmt.Sprintf("w%d-%d", p, k)))
				w.mu.Lock()
				if err != nil {
					w.errors = append(w.errors, fmt.Errorf("w%d-%d: %w", p, k, err))
				} else {
					w.acked[rec.GetTransferId()] = rec
				}
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// verify: each balance equals the deposit plus the acknowledged transfers
// (so none was lost or applied twice), read through the routers.
func (w *workload) verify(t *testing.T, cl *client.Client, f fund, balance int64) {
	t.Helper()
	want := map[string]int64{}
	for _, accts := range f.accts {
		for _, a := range accts {
			want[a] = balance
		}
	}
	for _, rec := range w.acked {
		want[rec.GetFromAccountId()] -= rec.GetAmountMinor()
		want[rec.GetToAccountId()] += rec.GetAmountMinor()
	}
	for a, bal := range want {
		acc, err := cl.GetAccount(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if acc.GetBalanceMinor() != bal {
			t.Fatalf("%s: balance %d, want %d from %d acknowledged transfers", a, acc.GetBalanceMinor(), bal, len(w.acked))
		}
	}
}

// Test 2: leadership of every cell moved by hand again and again while 50
// clients transfer: zero errors, nothing applied twice.
func TestLeadershipMovesUnderLoadWithoutErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 4, "acct", 1_000_000)
	w := &workload{acked: map[string]*pb.TransferRecord{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(context.Background(), cl, f, 50, stop)
	}()
	nodes := c.Topology.Nodes()
	for round := 0; round < 3; round++ {
		for _, cellInfo := range c.Topology.Cells() {
			target := nodes[(round+int(cellInfo.ID))%len(nodes)].ID
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := c.TransferLeadership(ctx, cellInfo.ID, target); err != nil {
				t.Logf("transfer of cell %d to %s: %v", cellInfo.ID, target, err)
			}
			cancel()
		}
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	<-done
	if len(w.errors) > 0 {
		t.Fatalf("%d client errors during leadership moves, first: %v", len(w.errors), w.errors[0])
	}
	if len(w.acked) < 100 {
		t.Fatalf("only %d transfers acknowledged", len(w.acked))
	}
	w.verify(t, cl, f, 1_000_000)
}

// Test 3: the only router of a region stops: its clients fail over to the
// other region's routers with zero failed operations, and come back when
// it returns.
func TestRegionalRouterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	cl := newClient(t, c, "shanghai")
	f := openAccounts(t, c, cl, 3, "acct", 1_000_000)
	w := &workload{acked: map[string]*pb.TransferRecord{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(context.Background(), cl, f, 10, stop)
	}()
	waitFor(t, 10*time.Second, "transfers acknowledged through the shanghai router", func() (bool, string) {
		n := w.ackedCount()
		return n >= 5, fmt.Sprintf("%d acknowledged", n)
	})
	if err := c.StopRouter("sh-a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the client to fail over to hangzhou", func() (bool, string) {
		got := cl.CurrentRegion()
		return got == "hangzhou", "region " + got
	})
	// Traffic goes on through the other region while shanghai's router is down.
	servedBefore := w.ackedCount()
	waitFor(t, 10*time.Second, "transfers acknowledged through hangzhou", func() (bool, string) {
		n := w.ackedCount()
		return n >= servedBefore+5, fmt.Sprintf("%d more acknowledged", n-servedBefore)
	})
	if got := cl.CurrentRegion(); got != "hangzhou" {
		t.Errorf("with the shanghai router down the client uses region %q", got)
	}
	if err := c.StartRouter("sh-a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the client to return to shanghai", func() (bool, string) {
		got := cl.CurrentRegion()
		return got == "shanghai", "region " + got
	})
	close(stop)
	<-done
	if got := cl.CurrentRegion(); got != "shanghai" {
		t.Errorf("the client did not return to its region: %q", got)
	}
	if len(w.errors) > 0 {
		t.Fatalf("%d failed operations, first: %v", len(w.errors), w.errors[0])
	}
	w.verify(t, cl, f, 1_000_000)
}

// Test 4: bad input over gRPC and HTTP gets a clear error, and nothing changes.
func TestBadInputOverGRPCAndHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 2, "acct", 5_000)
	a, b := f.accts[1][0], f.accts[1][1]
	conn, err := grpc.NewClient("passthrough:///"+c.RouterAddr("hz-a"), c.DialOption(auth.RoleClient))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pay := pb.NewPaymentsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	grpcCases := []struct {
		name, reason, field string
		code                codes.Code
		call                func() error
	}{
		{"missing key", "INVALID_ARGUMENT", "transfer_id", codes.InvalidArgument, func() error {
			_, err := pay.Transfer(ctx, &pb.Transfer{FromAccountId: a, ToAccountId: b, AmountMinor: 5, Currency: "CNY"})
			return err
		}},
		{"missing deposit key", "INVALID_ARGUMENT", "idempotency_key", codes.InvalidArgument, func() error {
			_, err := pay.Deposit(ctx, &pb.Deposit{AccountId: a, AmountMinor: 5, Currency: "CNY"})
			return err
		}},
		{"bad amount", "AMOUNT_NOT_POSITIVE", "amount_minor", codes.InvalidArgument, func() error {
			_, err := pay.Transfer(ctx, &pb.Transfer{TransferId: "bad-amount", FromAccountId: a, ToAccountId: b, AmountMinor: -5, Currency: "CNY"})
			return err
		}},
		{"unknown currency", "INVALID_ARGUMENT", "currency", codes.InvalidArgument, func() error {
			_, err := pay.Transfer(ctx, &pb.Transfer{TransferId: "bad-currency", FromAccountId: a, ToAccountId: b, AmountMinor: 5, Currency: "XYZ"})
			return err
		}},
	}
	for _, tc := range grpcCases {
		err := tc.call()
		info, _ := rpcstatus.Info(err)
		if status.Code(err) != tc.code || info.GetReason() != tc.reason || info.GetMetadata()[rpcstatus.MetaField] != tc.field {
			t.Errorf("gRPC %s: %v (reason %q, field %q); want %s %s %s", tc.name, err, info.GetReason(), info.GetMetadata()[rpcstatus.MetaField], tc.code, tc.reason, tc.field)
		}
	}
	base := "http://" + c.HTTPAddr("hz-a")
	httpCases := []struct {
		name, body, reason string
		headers            map[string]string
		status             int
	}{
		{"missing key", fmt.Sprintf(`{"from_account_id":%q,"to_account_id":%q,"amount_minor":"5","currency":"CNY"}`, a, b), "INVALID_ARGUMENT", nil, 400},
		{"bad amount", fmt.Sprintf(`{"transfer_id":"h1","from_account_id":%q,"to_account_id":%q,"amount_minor":"0","currency":"CNY"}`, a, b), "AMOUNT_NOT_POSITIVE", nil, 400},
		{"unknown currency", fmt.Sprintf(`{"transfer_id":"h2","from_account_id":%q,"to_account_id":%q,"amount_minor":"5","currency":"ABC"}`, a, b), "INVALID_ARGUMENT", nil, 400},
		{"malformed json", `{"transfer_id": "h3", "amount_minor": `, "MALFORMED_JSON", nil, 400},
		{"oversized body", `{"transfer_id":"` + strings.Repeat("x", 100_000) + `"}`, "BODY_TOO_LARGE", nil, 413},
	}
	for _, tc := range httpCases {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/transfers", bytes.NewBufferString(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), `"reason":"`+tc.reason+`"`) && !strings.Contains(string(body), `"reason": "`+tc.reason+`"`) {
			t.Errorf("HTTP %s: %d %s; want %d with reason %s", tc.name, resp.StatusCode, body, tc.status, tc.reason)
		}
	}
	// Nothing changed.
	for _, id := range []string{a, b} {
		acc, err := cl.GetAccount(ctx, id)
		if err != nil || acc.GetBalanceMinor() != 5_000 || acc.GetVersion() != 2 {
			t.Fatalf("%s after bad input: %v %v (want balance 5000, version 2)", id, acc, err)
		}
	}
	// And a good HTTP transfer works, replayed with the same key.
	good := fmt.Sprintf(`{"from_account_id":%q,"to_account_id":%q,"amount_minor":"5","currency":"CNY"}`, a, b)
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/transfers", bytes.NewBufferString(good))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "http-good-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "http-good-1") {
			t.Fatalf("good HTTP transfer %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if acc, _ := cl.GetAccount(ctx, a); acc.GetBalanceMinor() != 4_995 {
		t.Fatalf("after one transfer sent twice: balance %d, want 4995", acc.GetBalanceMinor())
	}
}

// Test 5 (router side): Status reflects a leadership change within 2 s.
func TestStatusReflectsLeadershipChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	// A move drill pins cell 1 to another site: the controller moves its
	// leader there and keeps it there (a move by hand would be moved back
	// home at once, the home being healthy).
	c := startFailoverCluster(t, 10*time.Second)
	conn, err := grpc.NewClient("passthrough:///"+c.RouterAddr("sh-a"), c.DialOption(auth.RoleOperator))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	adm := pb.NewRouterAdminClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	home := homeSite(c, 1)
	var target string
	for _, s := range c.Topology.Sites() {
		if s.ID != home {
			target = s.ID
			break
		}
	}
	if _, err := startDrill(t, c, &pb.DrillRequest{Kind: "move", CellId: 1, TargetSite: target}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "cell 1 led from "+target, func() (bool, string) {
		l := c.Leader(1)
		return l != "" && siteOf(c, l) == target, "leader " + l
	})
	changed, leader := time.Now(), c.Leader(1)
	for {
		st, err := adm.Status(ctx, &pb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetCells()[0].GetLeaderNodeId() == leader {
			break
		}
		if time.Since(changed) > 2*time.Second {
			t.Fatalf("status still shows leader %q 2 s after %s took over", st.GetCells()[0].GetLeaderNodeId(), leader)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
