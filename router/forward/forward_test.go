package forward

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
)

// scriptedCell is the Cell service of every node of a test topology, with
// scripted answers: answer gives the error for the n-th (1-based) call of
// method across all nodes, nil for success. It may block on ctx to hang.
type scriptedCell struct {
	pb.UnimplementedCellServer
	answer func(ctx context.Context, method string, n int) error

	mu    sync.Mutex
	calls map[string]int
}

func (s *scriptedCell) next(ctx context.Context, method string) error {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = make(map[string]int)
	}
	s.calls[method]++
	n := s.calls[method]
	s.mu.Unlock()
	return s.answer(ctx, method, n)
}

func (s *scriptedCell) callsOf(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *scriptedCell) Transfer(ctx context.Context, req *pb.TransferRequest) (*pb.TransferRecord, error) {
	if err := s.next(ctx, "Transfer"); err != nil {
		return nil, err
	}
	c := req.GetCommand()
	return &pb.TransferRecord{TransferId: c.GetTransferId(), FromAccountId: c.GetFromAccountId(), ToAccountId: c.GetToAccountId(),
		AmountMinor: c.GetAmountMinor(), Currency: c.GetCurrency(), State: pb.TransferState_TRANSFER_STATE_COMPLETED}, nil
}

func (s *scriptedCell) CreditIn(ctx context.Context, req *pb.CreditInRequest) (*pb.TransferRecord, error) {
	if err := s.next(ctx, "CreditIn"); err != nil {
		return nil, err
	}
	return &pb.TransferRecord{TransferId: req.GetCommand().GetTransferId()}, nil
}

func (s *scriptedCell) GetAccount(ctx context.Context, req *pb.GetAccountRequest) (*pb.Account, error) {
	if err := s.next(ctx, "GetAccount"); err != nil {
		return nil, err
	}
	return &pb.Account{Id: req.GetAccountId(), Currency: "CNY"}, nil
}

// hangPastAttemptMax bounds how long a scripted node holds an answer: far
// past any test's attempt timeout, and still bounded if the caller's
// cancellation never arrives.
const hangPastAttemptMax = 3 * time.Second

// hangUntilCaller holds the call until the caller gives up on it, as a node
// whose proposal is slow would: the request reached it, the answer is lost.
func hangUntilCaller(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-time.After(hangPastAttemptMax):
		return status.Error(codes.Unavailable, "scripted: held too long")
	}
}

// notHostedErr is what a node answers while its replica of cellID starts.
func notHostedErr(cellID uint64) error {
	return rpcstatus.Error(codes.NotFound, rpcstatus.ReasonCellNotHosted, fmt.Sprintf("cell %d is not hosted on node scripted", cellID),
		map[string]string{rpcstatus.MetaCellID: fmt.Sprint(cellID)})
}

// scriptedTopology is one cell (id 1, every slot) replicated on three
// nodes, one per site, whose Cell services listen on addrs.
func scriptedTopology(t *testing.T, addrs [3]string) *topology.Topology {
	t.Helper()
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"},
			Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	}
	for i, site := range spec.Sites {
		spec.Nodes = append(spec.Nodes, topology.Node{ID: site.ID + "-1", Site: site.ID,
			RaftAddr: fmt.Sprintf("127.0.0.1:%d", i+1), ClientAddr: addrs[i]})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// serveScripted serves s on three fresh ports and returns their addresses.
func serveScripted(t *testing.T, s *scriptedCell) [3]string {
	t.Helper()
	var addrs [3]string
	for i := range addrs {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		pb.RegisterCellServer(srv, s)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		addrs[i] = lis.Addr().String()
	}
	return addrs
}

// scriptedForwarder is a Forwarder over topo with a short request timeout
// and attempt timeout.
func scriptedForwarder(t *testing.T, topo *topology.Topology, requestTimeout, attemptTimeout time.Duration) *Forwarder {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RequestTimeout, cfg.AttemptTimeout = requestTimeout, attemptTimeout
	conns := NewPool(nil, nil)
	t.Cleanup(func() { _ = conns.Close() })
	return New(topo, conns, NewRoutes(), cfg)
}

// transfer sends a Transfer of 500 from alice to bob through fwd, as the
// front door does: a mutation keyed by its transfer id.
func transfer(fwd *Forwarder, id string) (*pb.TransferRecord, error) {
	var out *pb.TransferRecord
	cmd := &pb.Transfer{TransferId: id, FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 500, Currency: "CNY"}
	err := fwd.DoMutation(context.Background(), 1, "Transfer", id, func(ctx context.Context, cl pb.CellClient) (err error) {
		out, err = cl.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: cmd})
		return err
	})
	return out, err
}

// The defect of issue 13 item 3, through the real Forwarder: a Transfer's
// first attempt reaches a node that holds it past the attempt timeout (it
// may have executed), and every later attempt meets a replica still
// starting (CELL_NOT_HOSTED, NOT_FOUND). The router must answer
// UNAVAILABLE / OUTCOME_UNKNOWN with the transfer id, never NOT_FOUND.
func TestForwardTimeoutThenNotHostedIsOutcomeUnknown(t *testing.T) {
	const requestTimeout, attemptTimeout = 600 * time.Millisecond, 150 * time.Millisecond
	s := &scriptedCell{answer: func(ctx context.Context, _ string, n int) error {
		if n == 1 {
			return hangUntilCaller(ctx)
		}
		return notHostedErr(1)
	}}
	topo := scriptedTopology(t, serveScripted(t, s))
	fwd := scriptedForwarder(t, topo, requestTimeout, attemptTimeout)
	start := time.Now()
	rec, err := transfer(fwd, "t-issue13")
	took := time.Since(start)
	if rec != nil {
		t.Fatalf("record %v with err %v", rec, err)
	}
	wantOutcomeUnknown(t, err, 1, "t-issue13")
	if n := s.callsOf("Transfer"); n < 2 {
		t.Fatalf("%d Transfer attempts; want the timed-out one and CELL_NOT_HOSTED retries", n)
	}
	if took > requestTimeout+500*time.Millisecond {
		t.Fatalf("took %s, request timeout %s", took, requestTimeout)
	}
}

// No node listens: no attempt can have been sent, so the mutation did not
// execute and the answer is a plain UNAVAILABLE, not an unknown outcome.
func TestForwardNothingListeningIsUnavailable(t *testing.T) {
	var addrs [3]string
	for i := range addrs {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = lis.Addr().String()
		_ = lis.Close() // connections to it are refused
	}
	topo := scriptedTopology(t, addrs)
	_, err := transfer(scriptedForwarder(t, topo, 400*time.Millisecond, 100*time.Millisecond), "t-refused")
	if status.Code(err) != codes.Unavailable || rpcstatus.Reason(err) != "" {
		t.Fatalf("err %v (reason %q), want a plain UNAVAILABLE: nothing was sent", err, rpcstatus.Reason(err))
	}
}

// A read that meets only replicas still starting answers UNAVAILABLE at
// the deadline, not a NOT_FOUND that reads as "no such account".
func TestForwardReadNotHostedIsUnavailable(t *testing.T) {
	s := &scriptedCell{answer: func(context.Context, string, int) error { return notHostedErr(1) }}
	topo := scriptedTopology(t, serveScripted(t, s))
	fwd := scriptedForwarder(t, topo, 300*time.Millisecond, 100*time.Millisecond)
	err := fwd.Do(context.Background(), 1, func(ctx context.Context, cl pb.CellClient) error {
		_, err := cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: 1, AccountId: "alice"})
		return err
	})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err %v, want UNAVAILABLE", err)
	}
	if s.callsOf("GetAccount") < 2 {
		t.Fatalf("CELL_NOT_HOSTED not retried: %d calls", s.callsOf("GetAccount"))
	}
}

// A credit follows the same rule: after a credit attempt that
// may have been applied, a WRONG_CELL from one node's view is not a
// refusal (the relay would reverse a credited transfer: money created),
// while a refusal the payee's ledger stored is.
func TestCreditAfterAmbiguousAttempt(t *testing.T) {
	wrongCell := rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonWrongCell, "to_account_id belongs to cell 2",
		map[string]string{rpcstatus.MetaCellID: "2", rpcstatus.MetaField: "to_account_id"})
	stored := rpcstatus.Error(codes.NotFound, "ACCOUNT_NOT_FOUND", "no account bob",
		map[string]string{rpcstatus.MetaCellID: "1", rpcstatus.MetaStored: "true"})
	for _, tc := range []struct {
		name        string
		then        error
		wantRefused bool
	}{
		{"then WRONG_CELL", wrongCell, false},
		{"then a stored refusal", stored, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scriptedCell{answer: func(ctx context.Context, _ string, n int) error {
				if n == 1 {
					return hangUntilCaller(ctx)
				}
				return tc.then
			}}
			topo := scriptedTopology(t, serveScripted(t, s))
			fwd := scriptedForwarder(t, topo, 600*time.Millisecond, 150*time.Millisecond)
			credit := &pb.CreditIn{TransferId: "t-credit", FromAccountId: "alice", FromCellId: 2, ToAccountId: "bob", AmountMinor: 500, Currency: "CNY"}
			err := fwd.DoMutation(context.Background(), 1, "CreditIn", credit.GetTransferId(), func(ctx context.Context, cl pb.CellClient) error {
				_, err := cl.CreditIn(ctx, &pb.CreditInRequest{CellId: 1, Command: credit})
				return err
			})
			if got := rpcstatus.Stored(err); got != tc.wantRefused {
				t.Fatalf("Refused(%v) = %v, want %v", err, got, tc.wantRefused)
			}
			if tc.wantRefused {
				if rpcstatus.Reason(err) != rpcstatus.Reason(tc.then) || status.Code(err) != status.Code(tc.then) {
					t.Fatalf("err %v, want the stored refusal %v", err, tc.then)
				}
				return
			}
			wantOutcomeUnknown(t, err, 1, "t-credit")
		})
	}
}
