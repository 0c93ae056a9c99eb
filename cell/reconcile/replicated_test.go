package reconcile_test

// An external test package: package cell imports reconcile (its
// ReconcileCell service), so only an external test may run the real ledger.

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/replication"
)

// The clock of this test: commands are stamped relative to t0, and the
// check runs at now with a stuck age of 10 minutes.
var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now = t0.Add(time.Hour)
)

const stuckAge = 10 * time.Minute

func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

const (
	succeeded = pb.PayoutState_PAYOUT_STATE_SUCCEEDED
	failed    = pb.PayoutState_PAYOUT_STATE_FAILED
	unknown   = pb.PayoutState_PAYOUT_STATE_UNKNOWN
)

// summarize writes each finding as "Kind id amount".
func summarize(fs []reconcile.Finding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %s %d", f.Kind, strings.Join(f.IDs, ","), f.AmountMinor))
	}
	return strings.Join(parts, "\n")
}

// Bounds of the single-node helpers: a lone replica elects itself within a
// few election timeouts and one proposal commits in milliseconds, so these
// only fire when something is stuck.
const (
	leaderWaitMax   = 20 * time.Second
	applyTimeoutMax = 10 * time.Second
)

// startCells starts one replication host (one node) running the ledger as
// groups 1..n and returns the groups once each leads; the host closes with
// the test.
func startCells(t *testing.T, n int) []*replication.Group {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Listener, cfg.AdvertiseAddr = "n1", t.TempDir(), ln, addr
	cfg.RaftLogOutput = io.Discard
	cfg.HeartbeatIntervalMin = 20 * time.Millisecond
	cfg.Storage.CacheSizeBytes = 8 << 20
	cfg.Storage.MemTableSizeBytes = 4 << 20
	host, err := replication.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := host.Close(); err != nil {
			t.Errorf("closing the host: %v", err)
		}
	})
	var groups []*replication.Group
	for id := uint64(1); id <= uint64(n); id++ {
		g, err := host.StartGroup(id, cell.Ledger{}, []replication.Peer{{NodeID: "n1", Addr: addr}})
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	deadline := time.Now().Add(leaderWaitMax)
	for _, g := range groups {
		for !g.IsLeader() {
			if time.Now().After(deadline) {
				t.Fatalf("group %d did not elect its single node within %s", g.ID(), leaderWaitMax)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return groups
}

// run applies one command stamped ms(at) through raft and fails the test
// unless the ledger executed it.
func run(t *testing.T, g *replication.Group, at time.Duration, cmd *pb.Command) *pb.CommandResult {
	t.Helper()
	cmd.TimestampUnixMs = ms(at)
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
	defer cancel()
	out, err := g.Apply(ctx, data)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	res := out.(cell.Applied).Result
	if e := res.GetError(); e != nil {
		t.Fatalf("command %v failed: %v %s", cmd, e.GetReason(), e.GetMessage())
	}
	return res
}

func create(id, currency string) *pb.Command {
	return &pb.Command{Body: &pb.Command_CreateAccount{CreateAccount: &pb.CreateAccount{IdempotencyKey: "c-" + id, AccountId: id, Currency: currency}}}
}

func deposit(id string, amount int64) *pb.Command {
	return &pb.Command{Body: &pb.Command_Deposit{Deposit: &pb.Deposit{IdempotencyKey: "d-" + id, AccountId: id, AmountMinor: amount, Currency: "CNY"}}}
}

func transfer(id, from, to string, amount int64, fromCell, toCell uint64) *pb.Command {
	return &pb.Command{Body: &pb.Command_Transfer{Transfer: &pb.Transfer{TransferId: id, FromAccountId: from, ToAccountId: to, AmountMinor: amount, Currency: "CNY", FromCellId: fromCell, ToCellId: toCell}}}
}

// settleCrossCell is what the outbox relay does: credit the payee's cell,
// then record the delivery in the payer's.
func settleCrossCell(t *testing.T, payer, payee *replication.Group, at time.Duration, id, from, to string, amount int64) {
	t.Helper()
	run(t, payee, at, &pb.Command{Body: &pb.Command_CreditIn{CreditIn: &pb.CreditIn{TransferId: id, FromAccountId: from, FromCellId: payer.ID(), ToAccountId: to, AmountMinor: amount, Currency: "CNY"}}})
	run(t, payer, at, &pb.Command{Body: &pb.Command_OutboxDelivered{OutboxDelivered: &pb.OutboxDelivered{TransferId: id, FromAccountId: from, Outcome: pb.TransferState_TRANSFER_STATE_COMPLETED}}})
}

func payoutCmd(id, account string, amount int64) *pb.Command {
	return &pb.Command{Body: &pb.Command_Payout{Payout: &pb.Payout{PayoutId: id, AccountId: account, AmountMinor: amount, Currency: "CNY", Provider: "bank-a"}}}
}

func outcome(id string, state pb.PayoutState) *pb.Command {
	return &pb.Command{Body: &pb.Command_PayoutOutcome{PayoutOutcome: &pb.PayoutOutcome{PayoutId: id, AccountId: "bob", State: state, Provider: "bank-a", Reason: "test"}}}
}

// checkReplicated runs reconcile.CheckCell on a group's committed state and checks
// its totals against cell.ReadTotals, the ledger's own reading.
func checkReplicated(t *testing.T, g *replication.Group) (reconcile.CellSummary, []reconcile.Finding) {
	t.Helper()
	sum, fs, err := reconcile.CheckCell(g.ID(), g.Reader(), now, stuckAge)
	if err != nil {
		t.Fatalf("CheckCell(%d): %v", g.ID(), err)
	}
	tot, err := cell.ReadTotals(g.Reader())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accounts != tot.Accounts || sum.Outbox != tot.Outbox || sum.WorkItems != tot.Payouts {
		t.Fatalf("cell %d: summary %+v disagrees with cell.ReadTotals %+v", g.ID(), sum, tot)
	}
	for cur, c := range sum.Currencies {
		if c.BalancesMinor != tot.Balances[cur] || c.DepositedMinor != tot.Deposited[cur] || c.ReceivedMinor != tot.Received[cur] || c.SentMinor != tot.Sent[cur] ||
			c.InFlightMinor != tot.InFlight[cur] || c.HeldMinor != tot.Held[cur] || c.PaidOutMinor != tot.PaidOut[cur] {
			t.Fatalf("cell %d %s: summary %+v disagrees with cell.ReadTotals %+v", g.ID(), cur, c, tot)
		}
	}
	if ok, bad := tot.Conserved(); ok != (countKind(fs, reconcile.NotConserved) == 0) {
		t.Fatalf("cell %d: cell.Totals.Conserved says %v %v, CheckCell found %+v", g.ID(), ok, bad, fs)
	}
	return sum, fs
}

func countKind(fs []reconcile.Finding, k reconcile.Kind) int {
	n := 0
	for _, f := range fs {
		if f.Kind == k {
			n++
		}
	}
	return n
}

// buildCells builds two cells by real commands through Raft: local and
// cross-cell transfers both ways, x-2 debited in cell 1 and never delivered,
// and three payouts of bob's at the simulated provider bank-a: po-1 paid
// and SUCCEEDED, po-2 paid with its answer lost (UNKNOWN), po-3 recorded
// FAILED. With lie, bank-a paid po-3 (the fault reconciliation must
// catch); without, bank-a really failed it.
func buildCells(t *testing.T, lie bool) (c1, c2 *replication.Group, sim *channel.Sim) {
	t.Helper()
	groups := startCells(t, 2)
	c1, c2 = groups[0], groups[1]
	s := time.Second
	run(t, c1, 0, create("alice", "CNY"))
	run(t, c1, 0, create("bob", "CNY"))
	run(t, c2, 0, create("carol", "CNY"))
	run(t, c1, s, deposit("alice", 10_000))
	run(t, c2, s, deposit("carol", 500))
	run(t, c1, 2*s, transfer("t-1", "alice", "bob", 2_500, 0, 0))
	run(t, c1, 3*s, transfer("x-1", "alice", "carol", 300, 1, 2))
	settleCrossCell(t, c1, c2, 4*s, "x-1", "alice", "carol", 300)
	run(t, c1, 5*s, transfer("x-2", "alice", "carol", 200, 1, 2)) // the relay has not delivered it
	run(t, c2, 5*s, transfer("x-3", "carol", "bob", 50, 2, 1))
	settleCrossCell(t, c2, c1, 6*s, "x-3", "carol", "bob", 50)

	cfg := channel.DefaultSimConfig("bank-a")
	cfg.Clock = func() time.Time { return t0.Add(10 * s) }
	sim, err := channel.NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	po3 := channel.Behaviour{Mode: channel.ModeFail}
	if lie {
		po3.Mode = channel.ModeSucceed
	}
	if err := sim.ScriptSubmits(channel.Behaviour{Mode: channel.ModeSucceed}, po3, channel.Behaviour{Mode: channel.ModeSucceed}); err != nil {
		t.Fatal(err)
	}
	// po-2 last: an UNKNOWN payout holds bob's account.
	for _, p := range []struct {
		id     string
		amount int64
		state  pb.PayoutState
	}{{"po-1", 1_000, succeeded}, {"po-3", 70, failed}, {"po-2", 40, unknown}} {
		run(t, c1, 7*s, payoutCmd(p.id, "bob", p.amount))
		if _, err := sim.Submit(context.Background(), channel.Payout{ID: p.id, Account: "bob", AmountMinor: p.amount, Currency: "CNY"}); err != nil {
			t.Fatalf("submit %s: %v", p.id, err)
		}
		run(t, c1, 8*s, outcome(p.id, p.state))
	}
	return c1, c2, sim
}

// TestReplicatedFaults: a stuck cross-cell transfer, a stuck UNKNOWN
// payout and a payout the provider paid that the ledger marks FAILED, each
// found and named in a real replicated state.
func TestReplicatedFaults(t *testing.T) {
	c1, c2, sim := buildCells(t, true)
	sum1, fs1 := checkReplicated(t, c1)
	if got := summarize(fs1); got != "StuckTransfer alice/x-2 200\nStuckPayout bob/po-2 40" {
		t.Fatalf("cell 1 findings:\n%s\nwant the stuck transfer and payout", got)
	}
	if !strings.Contains(fs1[0].Detail, "credit to cell 2 not settled") || !strings.Contains(fs1[1].Detail, `UNKNOWN at provider "bank-a"`) {
		t.Fatalf("details %q, %q", fs1[0].Detail, fs1[1].Detail)
	}
	if sum1.Transfers["COMPLETED"] != 3 || sum1.Transfers["IN_FLIGHT"] != 1 || sum1.Payouts["FAILED"] != 1 || sum1.Payouts["UNKNOWN"] != 1 {
		t.Fatalf("cell 1 summary %+v", sum1)
	}
	sum2, fs2 := checkReplicated(t, c2)
	if len(fs2) != 0 {
		t.Fatalf("cell 2 findings: %+v", fs2)
	}
	if got := summarize(reconcile.CrossCell([]reconcile.CellSummary{sum1, sum2})); got != "CheckSkipped  200" {
		t.Fatalf("cross-cell findings:\n%s\nwant the equality skipped while x-2 is in flight", got)
	}
	payouts, err := reconcile.ReadPayouts(c1.Reader())
	if err != nil || len(payouts) != 3 {
		t.Fatalf("ReadPayouts: %d, %v", len(payouts), err)
	}
	if got := summarize(reconcile.MatchStatement("bank-a", payouts, sim.Statement(), t0, now)); got != "MissingInLedger po-3 70\nUnresolved po-2 40" {
		t.Fatalf("statement findings:\n%s\nwant po-3 paid but FAILED, po-2 unresolved", got)
	}
}

// TestReplicatedAllClear: once the relay delivers x-2 and a query settles
// po-2 (and the provider really failed po-3), the report is all clear.
func TestReplicatedAllClear(t *testing.T) {
	c1, c2, sim := buildCells(t, false)
	settleCrossCell(t, c1, c2, 20*time.Second, "x-2", "alice", "carol", 200)
	run(t, c1, 21*time.Second, outcome("po-2", succeeded))
	sum1, fs1 := checkReplicated(t, c1)
	sum2, fs2 := checkReplicated(t, c2)
	payouts, err := reconcile.ReadPayouts(c1.Reader())
	if err != nil {
		t.Fatal(err)
	}
	var all []reconcile.Finding
	all = append(all, fs1...)
	all = append(all, fs2...)
	all = append(all, reconcile.CrossCell([]reconcile.CellSummary{sum1, sum2})...)
	all = append(all, reconcile.MatchStatement("bank-a", payouts, sim.Statement(), t0, now)...)
	r := reconcile.NewReport(reconcile.Coverage{Cells: []uint64{1, 2}, From: t0, To: now, Providers: []string{"bank-a"}}, []reconcile.CellSummary{sum1, sum2}, all)
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !r.AllClear || len(r.Findings) != 0 || !strings.HasPrefix(text.String(), "all clear") {
		t.Fatalf("after resolving, report:\n%s", text.String())
	}
	if got := sum1.Currencies["CNY"]; got.SentMinor != 500 || got.ReceivedMinor != 50 || got.PaidOutMinor != 1_040 || got.HeldMinor != 0 {
		t.Fatalf("cell 1 CNY totals %+v", got)
	}
}
