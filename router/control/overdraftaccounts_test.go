package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
)

// Overdraft accounts opened through the Control service, on three real
// nodes (one per site, every node a meta voter) hosting two cells, with
// the ledger, the meta group and the Control service of each.

const (
	overdraftToken = "alice-token"
	// overdraftWaitMax bounds each wait of these tests (elections on
	// loopback take well under a second).
	overdraftWaitMax = 20 * time.Second
)

type overdraftWorld struct {
	topo     *topology.Topology
	controls map[string]*Control
	conns    map[string]*grpc.ClientConn // by node id, to its client address
}

// newOverdraftWorld starts the nodes; operators as ControlConfig.Operators.
func newOverdraftWorld(t *testing.T, operators map[string]string) *overdraftWorld {
	t.Helper()
	ids := []string{"hz-a-1", "hz-b-1", "sh-a-1"}
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 5 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 5 * time.Millisecond}},
		Cells: []topology.Cell{
			{ID: 1, Home: "hz-a", Replicas: ids, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots/2 - 1}}},
			{ID: 2, Home: "hz-b", Replicas: ids, Slots: []topology.SlotRange{{First: topology.Slots / 2, Last: topology.Slots - 1}}},
		},
	}
	raftLns, clientLns := map[string]net.Listener{}, map[string]net.Listener{}
	for _, id := range ids {
		for _, m := range []map[string]net.Listener{raftLns, clientLns} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			m[id] = ln
		}
		spec.Nodes = append(spec.Nodes, topology.Node{ID: id, Site: id[:len("hz-a")], RaftAddr: raftLns[id].Addr().String(), ClientAddr: clientLns[id].Addr().String()})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	w := &overdraftWorld{topo: topo, controls: map[string]*Control{}, conns: map[string]*grpc.ClientConn{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, id := range ids {
		cfg := DefaultControlConfig()
		cfg.Topology, cfg.Logger, cfg.Operators = topo, logger, operators
		cfg.Reconcile.Disabled = true
		control, err := NewControl(cfg)
		if err != nil {
			t.Fatal(err)
		}
		node, err := cell.StartNode(cell.NodeConfig{Topology: topo, NodeID: id, DataDir: t.TempDir(),
			RaftListener: raftLns[id], ClientListener: clientLns[id], HeartbeatIntervalMin: 100 * time.Millisecond,
			Logger: logger, RaftLogOutput: io.Discard, Register: control.Register})
		if err != nil {
			t.Fatal(err)
		}
		if err := control.Start(node); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = control.Close()
			_ = node.Close(time.Second)
		})
		conn, err := grpc.NewClient(clientLns[id].Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		w.controls[id], w.conns[id] = control, conn
	}
	w.metaLeader(t)
	return w
}

// metaLeader waits for the meta group's leader and returns its node id.
func (w *overdraftWorld) metaLeader(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(overdraftWaitMax); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for id, c := range w.controls {
			if c.meta.IsLeader() {
				return id
			}
		}
	}
	t.Fatalf("no meta leader within %s", overdraftWaitMax)
	return ""
}

// control is a Control client of the meta leader (or of another node).
func (w *overdraftWorld) control(t *testing.T, leader bool) pb.ControlClient {
	t.Helper()
	l := w.metaLeader(t)
	for id := range w.controls {
		if (id == l) == leader {
			return pb.NewControlClient(w.conns[id])
		}
	}
	t.Fatal("no such node")
	return nil
}

// onLeader runs fn against the meta leader, again while it answers
// NOT_LEADER (an election under way), as the CLI does.
func (w *overdraftWorld) onLeader(t *testing.T, fn func(pb.ControlClient) error) error {
	t.Helper()
	deadline := time.Now().Add(overdraftWaitMax)
	for {
		err := fn(w.control(t, true))
		if rpcstatus.Reason(err) != rpcstatus.ReasonNotLeader || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *overdraftWorld) create(t *testing.T, ctx context.Context, req *pb.CreateOverdraftAccountRequest) (*pb.OverdraftAccount, error) {
	t.Helper()
	var out *pb.OverdraftAccount
	err := w.onLeader(t, func(c pb.ControlClient) (err error) {
		out, err = c.CreateOverdraftAccount(ctx, req)
		return err
	})
	return out, err
}

func (w *overdraftWorld) list(t *testing.T, ctx context.Context) (*pb.ListOverdraftAccountsResponse, error) {
	t.Helper()
	var out *pb.ListOverdraftAccountsResponse
	err := w.onLeader(t, func(c pb.ControlClient) (err error) {
		out, err = c.ListOverdraftAccounts(ctx, &pb.ListOverdraftAccountsRequest{})
		return err
	})
	return out, err
}

func withBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// cellCall runs fn against the leader of the cell owning account, through
// a hint-following forwarder (bounded by its request timeout).
func (w *overdraftWorld) cellCall(t *testing.T, account string, fn func(ctx context.Context, cellID uint64, cl pb.CellClient) error) error {
	t.Helper()
	c, _ := w.topo.CellOfAccount(account)
	ctx, cancel := context.WithTimeout(context.Background(), overdraftWaitMax)
	defer cancel()
	var control *Control
	for _, c := range w.controls {
		control = c
	}
	return control.cellForwarder().Do(ctx, c.ID, func(ctx context.Context, cl pb.CellClient) error { return fn(ctx, c.ID, cl) })
}

func (w *overdraftWorld) getAccount(t *testing.T, account string) (*pb.Account, error) {
	t.Helper()
	var out *pb.Account
	err := w.cellCall(t, account, func(ctx context.Context, cellID uint64, cl pb.CellClient) (err error) {
		out, err = cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: cellID, AccountId: account})
		return err
	})
	return out, err
}

// wantNoAccount fails unless the account's cell says it does not exist.
func (w *overdraftWorld) wantNoAccount(t *testing.T, account string) {
	t.Helper()
	acct, err := w.getAccount(t, account)
	if rpcstatus.Reason(err) != "ACCOUNT_NOT_FOUND" {
		t.Fatalf("account %s: %v, %v; want ACCOUNT_NOT_FOUND (nothing opened)", account, acct, err)
	}
}

// audit reads the meta leader's audit log.
func (w *overdraftWorld) audit(t *testing.T) []*pb.AuditEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), overdraftWaitMax)
	defer cancel()
	var ms *pb.MetaStatus
	err := w.onLeader(t, func(c pb.ControlClient) (err error) {
		ms, err = c.GetMetaStatus(ctx, &pb.MetaStatusRequest{AuditMax: 100})
		if err == nil && ms.GetMetaLeaderId() != ms.GetAnsweredBy() {
			return rpcstatus.NotLeader(0, ms.GetMetaLeaderId(), "", 0) // ask the leader: it has applied its own writes
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms.GetAudit()
}

func auditLines(entries []*pb.AuditEntry) string {
	var lines []string
	for _, a := range entries {
		lines = append(lines, fmt.Sprintf("%s | %s | %s | %s | %s", a.GetOperator(), a.GetAction(), a.GetAccountId(), a.GetOutcome(), a.GetReason()))
	}
	return strings.Join(lines, "\n")
}

// sameCellAccount returns an account id other than account owned by the
// same cell (a transfer between them needs no cross-cell relay).
func sameCellAccount(t *testing.T, topo *topology.Topology, account, prefix string) string {
	t.Helper()
	want, _ := topo.CellOfAccount(account)
	for i := range 1000 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if c, _ := topo.CellOfAccount(id); c.ID == want.ID {
			return id
		}
	}
	t.Fatalf("no account in the cell of %s", account)
	return ""
}

func TestOverdraftAccountRefusedWithoutOperators(t *testing.T) {
	w := newOverdraftWorld(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), overdraftWaitMax)
	defer cancel()
	req := &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: "float-1", Currency: "CNY", Reason: "settlement float"}
	_, err := w.create(t, withBearer(ctx, overdraftToken), req)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "no operators are configured") {
		t.Fatalf("err = %v, want PERMISSION_DENIED: no operators", err)
	}
	_, err = w.list(t, withBearer(ctx, overdraftToken))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("list: err = %v, want PERMISSION_DENIED", err)
	}
	w.wantNoAccount(t, "float-1")
	audit := w.audit(t)
	if len(audit) != 2 || audit[0].GetOperator() != AuditOperatorUnauthenticated || audit[0].GetAction() != AuditActionOverdraftCreate ||
		audit[0].GetAccountId() != "float-1" || !strings.HasPrefix(audit[0].GetOutcome(), "refused: ") || audit[1].GetAction() != AuditActionOverdraftList {
		t.Fatalf("audit log:\n%s\nwant the two refusals", auditLines(audit))
	}
}

func TestOverdraftAccountRefusedWithWrongToken(t *testing.T) {
	w := newOverdraftWorld(t, map[string]string{"alice": TokenSHA256(overdraftToken)})
	ctx, cancel := context.WithTimeout(context.Background(), overdraftWaitMax)
	defer cancel()
	req := &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: "float-1", Currency: "CNY", Reason: "settlement float"}
	_, err := w.create(t, withBearer(ctx, "wrong"), req)
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "the operator token is not known") {
		t.Fatalf("wrong token: err = %v, want UNAUTHENTICATED as drills answer", err)
	}
	_, err = w.create(t, ctx, req)
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "needs an operator token") {
		t.Fatalf("no token: err = %v, want UNAUTHENTICATED", err)
	}
	// A follower sends the caller to the leader, where refusals are audited.
	_, err = w.control(t, false).CreateOverdraftAccount(withBearer(ctx, "wrong"), req)
	if _, addr, ok := rpcstatus.LeaderHint(err); status.Code(err) != codes.Unavailable || !ok || addr == "" {
		t.Fatalf("on a follower: err = %v, want UNAVAILABLE NOT_LEADER with the leader's address", err)
	}
	w.wantNoAccount(t, "float-1")
	audit := w.audit(t)
	if len(audit) != 2 {
		t.Fatalf("audit log:\n%s\nwant the two refusals on the leader", auditLines(audit))
	}
	for _, a := range audit {
		if a.GetOperator() != AuditOperatorUnauthenticated || a.GetAccountId() != "float-1" || a.GetReason() != "settlement float" ||
			!strings.HasPrefix(a.GetOutcome(), "refused: ") {
			t.Errorf("audit entry %v, want a refusal naming the account and reason", a)
		}
	}
}

func TestOverdraftAccountCreatedAuditedAndListed(t *testing.T) {
	w := newOverdraftWorld(t, map[string]string{"alice": TokenSHA256(overdraftToken), "bob": TokenSHA256("bob-token")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*overdraftWaitMax)
	defer cancel()
	actx := withBearer(ctx, overdraftToken)
	const float = "float-1"
	payee := sameCellAccount(t, w.topo, float, "payee")
	floatCell, _ := w.topo.CellOfAccount(float)

	// Invalid requests are refused and audited under the operator.
	_, err := w.create(t, actx, &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: float, Currency: "CNY"})
	if info, _ := rpcstatus.Info(err); status.Code(err) != codes.InvalidArgument || info.GetMetadata()[rpcstatus.MetaField] != "reason" {
		t.Fatalf("no reason: err = %v, want INVALID_ARGUMENT naming reason", err)
	}
	_, err = w.create(t, actx, &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: float, Currency: "ZZZ", Reason: "r"})
	if info, _ := rpcstatus.Info(err); status.Code(err) != codes.InvalidArgument || info.GetMetadata()[rpcstatus.MetaField] != "currency" {
		t.Fatalf("bad currency: err = %v, want INVALID_ARGUMENT naming currency", err)
	}
	w.wantNoAccount(t, float)

	// Opened, then the same request again is answered from the cell's key.
	req := &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: float, Currency: "CNY", Reason: "settlement float for partner X"}
	got, err := w.create(t, actx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetCellId() != floatCell.ID || got.GetOperator() != "alice" || got.GetReplayed() || !got.GetAccount().GetAllowNegativeBalance() ||
		got.GetAccount().GetId() != float || got.GetAccount().GetCurrency() != "CNY" {
		t.Fatalf("created %v, want %s in cell %d by alice with the flag", got, float, floatCell.ID)
	}
	again, err := w.create(t, actx, req)
	if err != nil || !again.GetReplayed() || again.GetAccount().GetCreatedAtUnixMs() != got.GetAccount().GetCreatedAtUnixMs() {
		t.Fatalf("the same request again: %v, %v; want the stored result, replayed", again, err)
	}
	// The same key with other parameters is refused by the cell.
	_, err = w.create(t, actx, &pb.CreateOverdraftAccountRequest{IdempotencyKey: "k1", AccountId: float, Currency: "USD", Reason: "r"})
	if rpcstatus.Reason(err) != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("key reused: err = %v, want IDEMPOTENCY_KEY_REUSED", err)
	}

	// It can go below zero through the Cell service; a plain account cannot.
	err = w.cellCall(t, payee, func(ctx context.Context, cellID uint64, cl pb.CellClient) error {
		_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: cellID, Command: &pb.CreateAccount{IdempotencyKey: "p1", AccountId: payee, Currency: "CNY"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	transfer := func(id, from, to string, amount int64) error {
		return w.cellCall(t, from, func(ctx context.Context, cellID uint64, cl pb.CellClient) error {
			_, err := cl.Transfer(ctx, &pb.TransferRequest{CellId: cellID, Command: &pb.Transfer{TransferId: id, FromAccountId: from, ToAccountId: to, AmountMinor: amount, Currency: "CNY"}})
			return err
		})
	}
	if err := transfer("t1", float, payee, 5_000_000); err != nil {
		t.Fatalf("transfer from the overdraft account beyond its balance: %v", err)
	}
	if err := transfer("t2", payee, float, 6_000_000); rpcstatus.Reason(err) != "INSUFFICIENT_FUNDS" {
		t.Fatalf("transfer from the plain account beyond its balance: %v, want INSUFFICIENT_FUNDS", err)
	}
	// bob asks for the plain account as an overdraft one: its cell refuses
	// (it exists), so it is not listed.
	_, err = w.create(t, withBearer(ctx, "bob-token"), &pb.CreateOverdraftAccountRequest{IdempotencyKey: "b1", AccountId: payee, Currency: "CNY", Reason: "by mistake"})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("overdraft over an existing plain account: %v, want ALREADY_EXISTS", err)
	}

	// The audit log: every attempt, the request before its outcome.
	audit := w.audit(t)
	t.Logf("audit log:\n%s", auditLines(audit))
	var outcomes []string
	for _, a := range audit {
		outcome, _, _ := strings.Cut(a.GetOutcome(), ":")
		outcomes = append(outcomes, a.GetOperator()+" "+a.GetAccountId()+" "+outcome)
		if a.GetAction() != AuditActionOverdraftCreate {
			t.Errorf("audit entry %v: action %q", a, a.GetAction())
		}
	}
	want := []string{"alice float-1 refused", "alice float-1 refused",
		"alice float-1 requested", "alice float-1 created", "alice float-1 requested", "alice float-1 replayed",
		"alice float-1 requested", "alice float-1 failed", "bob " + payee + " requested", "bob " + payee + " failed"}
	if strings.Join(outcomes, ", ") != strings.Join(want, ", ") {
		t.Errorf("audit outcomes:\n%s\nwant:\n%s", strings.Join(outcomes, ", "), strings.Join(want, ", "))
	}
	if a := audit[3]; a.GetReason() != req.GetReason() || a.GetCellId() != floatCell.ID || !strings.Contains(a.GetDetail(), `"float-1"`) {
		t.Errorf("the created entry %v, want the reason, cell and account", a)
	}

	// The list: the overdraft account with its balance, not the plain one.
	list, err := w.list(t, actx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetAccounts()) != 1 || len(list.GetUnread()) != 0 || list.GetTruncatedBecause() != "" {
		t.Fatalf("list %v, want one account", list)
	}
	a := list.GetAccounts()[0]
	if a.GetAccount().GetId() != float || a.GetCellId() != floatCell.ID || a.GetAccount().GetBalanceMinor() != -5_000_000 ||
		a.GetAccount().GetCurrency() != "CNY" || a.GetOperator() != "alice" || a.GetReason() != req.GetReason() || a.GetAccount().GetCreatedAtUnixMs() == 0 {
		t.Fatalf("listed %v, want %s at -5000000 CNY in cell %d by alice", a, float, floatCell.ID)
	}
	// Listing needs a known token too.
	if _, err := w.list(t, withBearer(ctx, "wrong")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("list with a wrong token: %v, want UNAUTHENTICATED", err)
	}
}

// The refusals audited per minute are bounded; the budget comes back.
func TestOverdraftRefusalAuditBudget(t *testing.T) {
	var o overdraftAccounts
	now := time.Unix(1_767_323_045, 0)
	for i := range refusalAuditsPerMinuteMax {
		if !o.refusalAuditAllowed(now.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("refusal %d not audited", i)
		}
	}
	if o.refusalAuditAllowed(now.Add(30 * time.Second)) {
		t.Fatalf("refusal %d in the minute audited, want at most %d", refusalAuditsPerMinuteMax+1, refusalAuditsPerMinuteMax)
	}
	if !o.refusalAuditAllowed(now.Add(time.Minute)) {
		t.Fatal("no refusal audited a minute later")
	}
}

// Candidates: every account requested, with who opened it.
func TestOverdraftCandidatesFromTheAuditLog(t *testing.T) {
	e := func(op, account, outcome, reason string) *pb.AuditEntry {
		return &pb.AuditEntry{Operator: op, Action: AuditActionOverdraftCreate, AccountId: account, CellId: 1, Outcome: outcome, Reason: reason}
	}
	got := overdraftCandidates([]*pb.AuditEntry{
		e(AuditOperatorUnauthenticated, "z", "refused: token", "x"),      // refused: never sent
		e("bob", "b", AuditOutcomeRequested, "first try"),                // outcome unknown: may exist
		e("bob", "b", "unknown: timeout", "first try"),                   //
		e("alice", "a", AuditOutcomeRequested, "wrong reason"),           // failed, then opened by carol
		e("alice", "a", "failed: ACCOUNT_HELD", "wrong reason"),          //
		e("carol", "a", AuditOutcomeRequested, "float"),                  //
		e("carol", "a", AuditOutcomeCreated, "float"),                    //
		e("dave", "a", AuditOutcomeRequested, "again"),                   // a later attempt does not take it over
		e("dave", "a", AuditOutcomeReplayed, "again"),                    //
		{Operator: "erin", Action: "drill evacuate", Outcome: "started"}, // another action
	})
	want := "a carol float; b bob first try"
	var parts []string
	for _, c := range got {
		parts = append(parts, c.accountID+" "+c.operator+" "+c.reason)
	}
	if strings.Join(parts, "; ") != want {
		t.Errorf("candidates %q, want %q", strings.Join(parts, "; "), want)
	}
}

// A drill with a wrong or missing token is refused and, like an overdraft
// call, audited on the meta leader (issue 15: refusals left no trace).
func TestDrillRefusalsAreAudited(t *testing.T) {
	w := newOverdraftWorld(t, map[string]string{"alice": TokenSHA256(overdraftToken)})
	ctx, cancel := context.WithTimeout(context.Background(), overdraftWaitMax)
	defer cancel()
	req := &pb.DrillRequest{Kind: "evacuate", Site: "hz-a", DryRun: true}
	for _, c := range []context.Context{withBearer(ctx, "wrong"), ctx} {
		err := w.onLeader(t, func(cl pb.ControlClient) error {
			_, err := cl.StartDrill(c, req)
			return err
		})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("err = %v, want UNAUTHENTICATED", err)
		}
	}
	audit := w.audit(t)
	if len(audit) != 2 {
		t.Fatalf("audit log:\n%s\nwant the two refused drills", auditLines(audit))
	}
	for _, a := range audit {
		if a.GetOperator() != AuditOperatorUnauthenticated || a.GetAction() != "drill evacuate" ||
			!strings.Contains(a.GetDetail(), `site "hz-a"`) || !strings.HasPrefix(a.GetOutcome(), "refused: ") {
			t.Errorf("audit entry %v, want a refused drill naming its site", a)
		}
	}
}
