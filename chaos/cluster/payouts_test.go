package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/router/client"
)

// TestPayoutLeaderCrashBetweenSubmitAndRecord: the provider pays at once
// but answers late; the cell's leader dies before it hears the answer, so
// the payout is PENDING in Raft. The new leader queries the same provider
// with the same id and records SUCCEEDED: one payment, one submit.
func TestPayoutLeaderCrashBetweenSubmitAndRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.LeadersHome(ctx); err != nil { // No move by the controller in the middle.
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every cell leads at home", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 1, "po", 1_000)
	const cellID = 1
	account := f.accts[cellID][0]
	bank := c.Sim("bank-a")
	bank.SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed, Delay: 20 * time.Second})

	// The payout must be answered PENDING by the leader that submitted it;
	// should Raft move the leader in that second anyway, the new one
	// settles it (correctly) and the scenario is tried again.
	var leader, id string
	for attempt := 1; ; attempt++ {
		leader, id = c.Leader(cellID), fmt.Sprintf("po-crash-%d", attempt)
		conn, err := grpc.NewClient(c.Node(leader).ClientAddr(), c.DialOption(auth.RoleRouter))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := pb.NewCellClient(conn).Payout(ctx, &pb.PayoutRequest{CellId: cellID, Command: &pb.Payout{
			PayoutId: id, AccountId: account, AmountMinor: 250, Currency: "CNY"}})
		_ = conn.Close()
		if err == nil && rec.GetState() == pb.PayoutState_PAYOUT_STATE_PENDING && c.Leader(cellID) == leader {
			break
		}
		if attempt == 3 {
			t.Fatalf("payout: %v, %v; want PENDING (the provider has not answered)", rec, err)
		}
		t.Logf("attempt %d answered %v, %v with leader %s (now %s): again", attempt, rec.GetState(), err, leader, c.Leader(cellID))
	}
	providerID := cell.ProviderPayoutID(cellID, account, id)
	paid := func() int {
		n := 0
		for _, e := range bank.Statement() {
			if e.PayoutID == providerID {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "the provider paid", func() (bool, string) { return paid() == 1, "no payment yet" })
	if err := c.StopNode(leader); err != nil { // The answer is never heard, never recorded.
		t.Fatal(err)
	}
	bank.SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed})

	waitFor(t, 30*time.Second, "the payout SUCCEEDED under a new leader", func() (bool, string) {
		l := c.Leader(cellID)
		if l == "" || l == leader {
			return false, "no new leader yet"
		}
		g, err := c.Node(l).Host().Group(cellID)
		if err != nil {
			return false, err.Error()
		}
		rec, err := cell.GetPayout(g.Reader(), account, id)
		if err != nil {
			return false, err.Error()
		}
		return rec.GetState() == pb.PayoutState_PAYOUT_STATE_SUCCEEDED, rec.String()
	})
	if n := paid(); n != 1 {
		t.Fatalf("bank-a paid %d times, want 1", n)
	}
	if n := bank.SubmitCalls(providerID); n != 1 {
		t.Fatalf("bank-a saw %d submits; the new leader must query, not submit again", n)
	}
	if n := c.Sim("bank-b").SubmitCalls(providerID); n != 0 {
		t.Fatalf("the fallback saw %d submits", n)
	}
	g, _ := c.Node(c.Leader(cellID)).Host().Group(cellID)
	tot, err := cell.ReadTotals(g.Reader())
	if err != nil {
		t.Fatal(err)
	}
	ok, bad := tot.Conserved()
	if want := 250 * int64(len(bank.Statement())); !ok || tot.PaidOut["CNY"] != want {
		t.Fatalf("totals %+v (%v); want conserved with %d paid out (what the bank paid)", tot, bad, want)
	}
}

// TestUnresolvedPayoutIsAnAlertInStatus: a payout whose outcome stays
// unknown past the alert age shows in the routers' status; it clears once
// the provider answers.
func TestUnresolvedPayoutIsAnAlertInStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, err := Start(Config{Dir: t.TempDir(), Seed: 1, Payouts: cell.PayoutConfig{UnresolvedAge: 500 * time.Millisecond, CallTimeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c, "hangzhou")
	f := openAccounts(t, c, cl, 1, "al", 1_000)
	c.Sim("bank-a").SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutBefore})
	if _, err := cl.Payout(ctx, f.accts[1][0], 10, "CNY", client.WithPayoutID("po-alert")); err != nil {
		t.Fatalf("payout: %v", err)
	}
	conn, err := grpc.NewClient(c.RouterAddr("hz-a"), c.DialOption(auth.RoleOperator))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	alert := func() uint32 {
		st, err := pb.NewRouterAdminClient(conn).Status(ctx, &pb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range st.GetCells() {
			if cs.GetCellId() == 1 {
				return cs.GetUnresolvedPayouts()
			}
		}
		return 0
	}
	waitFor(t, 30*time.Second, "the unresolved payout is an alert in status", func() (bool, string) { return alert() == 1, "no alert" })
	c.Sim("bank-a").SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed})
	waitFor(t, 30*time.Second, "the alert clears once the payout resolves", func() (bool, string) { return alert() == 0, "alert still on" })
}
