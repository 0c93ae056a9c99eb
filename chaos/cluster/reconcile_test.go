package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/router/client"
)

func reportText(rep reconcile.Report) string {
	var b bytes.Buffer
	rep.WriteText(&b)
	return b.String()
}

// findingsOf lists the problems of a kind.
func findingsOf(rep reconcile.Report, kind reconcile.Kind) []reconcile.Finding {
	var out []reconcile.Finding
	for _, f := range rep.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// TestReconcileAllClearAfterFiberCutFailoverAndFailback: traffic (same-cell
// and cross-cell transfers, deposits, payouts) runs through a fiber cut of
// hz-a, the failover and the failback; reconciliation then reports all
// clear: replicas agree at a checkpoint, money is conserved per cell and
// across cells, every payout matches the providers' statements.
func TestReconcileAllClearAfterFiberCutFailoverAndFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	since := time.Now()
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 2, "rc", 100_000)
	l := startLoad(t, c)
	ctx := context.Background()
	payouts := 0
	pay := func() {
		for cellID, accts := range f.accts {
			_, err := cl.Payout(ctx, accts[0], 10, "CNY", client.WithPayoutID(fmt.Sprintf("po-%d-%d", cellID, payouts)))
			if err != nil {
				t.Errorf("payout: %v", err)
			}
		}
		payouts++
	}
	pay()
	c.Fabric.Isolate("hz-a")
	for range 3 {
		pay()
		time.Sleep(time.Second)
	}
	c.Fabric.HealAll()
	healed := time.Now()
	waitFor(t, 60*time.Second, "every cell back home", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	pay()
	l.stop()

	var rep reconcile.Report
	waitFor(t, 60*time.Second, "reconciliation all clear", func() (bool, string) {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		var err error
		rep, err = c.Reconcile(rctx, since, time.Minute)
		if err != nil {
			return false, err.Error()
		}
		return rep.AllClear, reportText(rep)
	})
	// The meta leader reconciled on its own after the failover and after
	// the failback, and recorded it.
	waitFor(t, 60*time.Second, "an automatic reconciliation after the failback, all clear", func() (bool, string) {
		ms := metaStatus(t, c)
		var seen []string
		for _, ev := range ms.GetEvents() {
			if ev.GetKind() == "reconciled" {
				seen = append(seen, ev.GetReason())
				if ev.GetAtUnixMs() > healed.UnixMilli() && strings.HasPrefix(ev.GetReason(), "after leader moves: all clear") {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("reconciled events: %q", seen)
	})
	if len(rep.Covered.Cells) != len(c.Topology.Cells()) || len(rep.Covered.Providers) != 2 {
		t.Fatalf("the report covered cells %v and providers %v; want every cell and both providers", rep.Covered.Cells, rep.Covered.Providers)
	}
	t.Logf("%s", reportText(rep))
}

// liar pays through the simulator but answers FAILED for payout ids
// "lie-1": the provider paid, the ledger will say FAILED.
type liar struct{ *channel.Sim }

func (l liar) Submit(ctx context.Context, p channel.Payout) (channel.Result, error) {
	res, err := l.Sim.Submit(ctx, p)
	if strings.HasSuffix(p.ID, ".lie-1") && err == nil { // cell.ProviderPayoutID ends with the payout id
		return channel.Result{Outcome: channel.OutcomeFailed, Reason: "declined (a lie)"}, nil
	}
	return res, err
}

// duplicating reports its simulator's statement with one payout twice.
type duplicating struct {
	*channel.Sim
	id string
}

func (d duplicating) ReadStatement(ctx context.Context) ([]channel.StatementEntry, error) {
	stmt, err := d.Sim.ReadStatement(ctx)
	for _, e := range stmt {
		if strings.HasSuffix(e.PayoutID, "."+d.id) { // cell.ProviderPayoutID ends with the payout id
			stmt = append(stmt, e)
			break
		}
	}
	return stmt, err
}

// TestReconcileFindsInjectedFaults: each fault is found and named: a
// replica altered on disk behind Raft's back, a payout the provider paid
// but the ledger marks FAILED, a duplicate at the provider, a stuck
// cross-cell transfer.
func TestReconcileFindsInjectedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, err := Start(Config{Dir: t.TempDir(), Seed: 1, ProviderNames: []string{"bank-a"},
		ProviderWrap: func(s *channel.Sim) channel.Provider { return liar{s} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.LeadersHome(ctx); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 1, "inj", 10_000)

	// The lie and the duplicate.
	if rec, err := cl.Payout(ctx, f.accts[1][0], 70, "CNY", client.WithPayoutID("lie-1")); err != nil || rec.GetState() != pb.PayoutState_PAYOUT_STATE_FAILED {
		t.Fatalf("payout lie-1: %v, %v; want FAILED (the provider lied)", rec, err)
	}
	if rec, err := cl.Payout(ctx, f.accts[2][0], 30, "CNY", client.WithPayoutID("dup-1")); err != nil || rec.GetState() != pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
		t.Fatalf("payout dup-1: %v, %v; want SUCCEEDED", rec, err)
	}

	// A follower replica of cell 3 altered on disk.
	victim := ""
	cell3, _ := c.Topology.Cell(3)
	for _, id := range cell3.Replicas {
		if id != c.Leader(3) {
			victim = id
			break
		}
	}
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	acct := f.accts[3][0]
	forged, err := proto.Marshal(&pb.Account{Id: acct, Currency: "CNY", BalanceMinor: 1_000_000, Version: 99})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AlterStateOnDisk(victim, 3, []byte("a/"+acct), forged); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.LeadersHome(ctx); err != nil {
		t.Fatal(err)
	}
	// A stuck cross-cell transfer: the payer's cell (homed in hz-a) cannot
	// reach the payee's cell (homed in hz-b, whose leader stays there).
	payer, payee := f.accts[1][0], f.accts[2][0]
	c.Fabric.Cut("hz-a", "hz-b")
	rec, err := cl.Transfer(ctx, payer, payee, 5, "CNY", client.WithTransferID("x-stuck"))
	if err != nil || rec.GetState() != pb.TransferState_TRANSFER_STATE_IN_FLIGHT {
		t.Fatalf("cross-cell transfer: %v, %v; want IN_FLIGHT while hz-a and hz-b are cut apart", rec, err)
	}

	time.Sleep(1500 * time.Millisecond) // Older than the stuck age below.

	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	statements := map[string]channel.StatementReader{"bank-a": duplicating{c.Sim("bank-a"), "dup-1"}}
	rep, err := c.ReconcileWith(rctx, since, time.Second, statements)
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, reportText(rep))
	}
	text := reportText(rep)
	if rep.AllClear {
		t.Fatalf("all clear despite four injected faults:\n%s", text)
	}
	expect := func(kind reconcile.Kind, id string) {
		t.Helper()
		for _, f := range findingsOf(rep, kind) {
			if strings.Contains(strings.Join(f.IDs, " ")+" "+f.Detail, id) {
				return
			}
		}
		t.Errorf("no %s finding naming %s:\n%s", kind, id, text)
	}
	expect(reconcile.ReplicaMismatch, victim)
	expect(reconcile.MissingInLedger, "lie-1")
	expect(reconcile.DuplicateAtProvider, "dup-1")
	expect(reconcile.StuckTransfer, "x-stuck")
	for _, fd := range findingsOf(rep, reconcile.ReplicaMismatch) {
		if !strings.Contains(fd.Detail, `"a/`) {
			t.Errorf("the replica mismatch does not name the accounts' key range: %s", fd.Detail)
		}
	}
	t.Logf("%s", text)
	c.Fabric.HealAll()
}

// TestReconcileUnderCrossCellTrafficRaisesNoFalseAlarm: cells are read one
// after the other while cross-cell transfers settle between the reads; the
// cross-cell check must not report an imbalance that is only that.
func TestReconcileUnderCrossCellTrafficRaisesNoFalseAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 2, "xr", 1_000_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var traffic sync.WaitGroup
	for w := range 8 {
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			for i := w; ctx.Err() == nil; i++ {
				from := f.accts[uint64(1+i%3)][i%2]
				to := f.accts[uint64(1+(i+1)%3)][(i+1)%2]
				_, _ = cl.Transfer(ctx, from, to, 1, "CNY")
			}
		}()
	}
	for run := range 10 {
		rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
		rep, err := c.Reconcile(rctx, time.Now().Add(-time.Hour), time.Minute)
		rcancel()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if fs := findingsOf(rep, reconcile.CrossCellImbalance); len(fs) > 0 || !rep.AllClear {
			t.Fatalf("run %d under cross-cell traffic is not all clear:\n%s", run, reportText(rep))
		}
	}
	cancel()
	traffic.Wait()
}
