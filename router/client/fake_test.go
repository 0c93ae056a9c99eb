package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// call is one request a fake router received.
type call struct {
	method string
	key    string // idempotency key or transfer id; "" for reads
}

// behaviour scripts a fake: the error to answer the n-th (1-based) call of
// method with, nil for success. It may block on ctx to hang.
type behaviour func(ctx context.Context, method string, n int) error

// fakeRouter is a real gRPC server on 127.0.0.1 that serves Payments and
// the standard health service with scripted answers.
type fakeRouter struct {
	pb.UnimplementedPaymentsServer
	t    *testing.T
	addr string

	mu     sync.Mutex
	srv    *grpc.Server
	calls  []call
	perOp  map[string]int
	behave behaviour
	// lastPayout is the last Payout request received.
	lastPayout *pb.Payout
}

// startFake starts a fake router on a fresh port; it stops at test end.
func startFake(t *testing.T, b behaviour) *fakeRouter {
	t.Helper()
	f := &fakeRouter{t: t, perOp: make(map[string]int), behave: b}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.serve(lis)
	t.Cleanup(f.stop)
	return f
}

func (f *fakeRouter) serve(lis net.Listener) {
	srv := grpc.NewServer()
	pb.RegisterPaymentsServer(srv, f)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

// stop kills the server the hard way: listener and connections closed,
// in-flight calls broken (server.Stop).
func (f *fakeRouter) stop() {
	f.mu.Lock()
	srv := f.srv
	f.mu.Unlock()
	srv.Stop()
}

// restart serves again on the same address.
func (f *fakeRouter) restart() {
	f.t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if lis, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("restart on %s: %v", f.addr, err)
	}
	f.serve(lis)
}

func (f *fakeRouter) setBehaviour(b behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behave = b
}

func (f *fakeRouter) record(ctx context.Context, method, key string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{method: method, key: key})
	f.perOp[method]++
	n, b := f.perOp[method], f.behave
	f.mu.Unlock()
	if b == nil {
		return nil
	}
	return b(ctx, method, n)
}

// received returns the calls so far.
func (f *fakeRouter) received() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeRouter) CreateAccount(ctx context.Context, req *pb.CreateAccount) (*pb.Account, error) {
	if err := f.record(ctx, "CreateAccount", req.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &pb.Account{Id: req.GetAccountId(), Currency: req.GetCurrency(), AllowNegativeBalance: req.GetAllowNegativeBalance()}, nil
}

func (f *fakeRouter) Deposit(ctx context.Context, req *pb.Deposit) (*pb.DepositRecord, error) {
	if err := f.record(ctx, "Deposit", req.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &pb.DepositRecord{IdempotencyKey: req.GetIdempotencyKey(), AccountId: req.GetAccountId(),
		AmountMinor: req.GetAmountMinor(), Currency: req.GetCurrency(), ExternalRef: req.GetExternalRef()}, nil
}

func (f *fakeRouter) Transfer(ctx context.Context, req *pb.Transfer) (*pb.TransferRecord, error) {
	if err := f.record(ctx, "Transfer", req.GetTransferId()); err != nil {
		return nil, err
	}
	return &pb.TransferRecord{TransferId: req.GetTransferId(), FromAccountId: req.GetFromAccountId(),
		ToAccountId: req.GetToAccountId(), AmountMinor: req.GetAmountMinor(), Currency: req.GetCurrency(),
		State: pb.TransferState_TRANSFER_STATE_COMPLETED}, nil
}

func (f *fakeRouter) GetAccount(ctx context.Context, req *pb.AccountLookup) (*pb.Account, error) {
	if err := f.record(ctx, "GetAccount", ""); err != nil {
		return nil, err
	}
	return &pb.Account{Id: req.GetAccountId(), Currency: "CNY", BalanceMinor: 100}, nil
}

func (f *fakeRouter) GetTransfer(ctx context.Context, req *pb.TransferLookup) (*pb.TransferRecord, error) {
	if err := f.record(ctx, "GetTransfer", ""); err != nil {
		return nil, err
	}
	return &pb.TransferRecord{TransferId: req.GetTransferId(), FromAccountId: req.GetFromAccountId()}, nil
}

func (f *fakeRouter) ListTransfers(ctx context.Context, req *pb.TransferListQuery) (*pb.ListTransfersResponse, error) {
	if err := f.record(ctx, "ListTransfers", ""); err != nil {
		return nil, err
	}
	return &pb.ListTransfersResponse{Transfers: []*pb.TransferRecord{{TransferId: "t1", FromAccountId: req.GetAccountId()}}}, nil
}

func (f *fakeRouter) Payout(ctx context.Context, req *pb.Payout) (*pb.PayoutRecord, error) {
	if err := f.record(ctx, "Payout", req.GetPayoutId()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.lastPayout = req
	f.mu.Unlock()
	return &pb.PayoutRecord{PayoutId: req.GetPayoutId(), AccountId: req.GetAccountId(), AmountMinor: req.GetAmountMinor(),
		Currency: req.GetCurrency(), Provider: req.GetProvider(), State: pb.PayoutState_PAYOUT_STATE_UNKNOWN}, nil
}

func (f *fakeRouter) GetPayout(ctx context.Context, req *pb.PayoutLookup) (*pb.PayoutRecord, error) {
	if err := f.record(ctx, "GetPayout", ""); err != nil {
		return nil, err
	}
	return &pb.PayoutRecord{PayoutId: req.GetPayoutId(), AccountId: req.GetAccountId(), State: pb.PayoutState_PAYOUT_STATE_SUCCEEDED}, nil
}

func (f *fakeRouter) ListPayouts(ctx context.Context, req *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	if err := f.record(ctx, "ListPayouts", ""); err != nil {
		return nil, err
	}
	return &pb.ListPayoutsResponse{Payouts: []*pb.PayoutRecord{{PayoutId: "po-1", State: req.GetState()}},
		NextPageToken: fmt.Sprintf("cell-%d-after-%s", req.GetCellId(), req.GetPageToken())}, nil
}

// cellpayError is a status with a cellpay ErrorInfo, as the ledger sends.
func cellpayError(code codes.Code, reason, field, msg string) error {
	st := status.New(code, msg)
	meta := map[string]string{"cell_id": "1"}
	if field != "" {
		meta["field"] = field
	}
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "cellpay", Metadata: meta})
	if err != nil {
		panic(err)
	}
	return withInfo.Err()
}

// failFirst fails the first n calls of every method with err.
func failFirst(n int, err error) behaviour {
	return func(_ context.Context, _ string, i int) error {
		if i <= n {
			return err
		}
		return nil
	}
}

// always answers every call with err.
func always(err error) behaviour {
	return func(context.Context, string, int) error { return err }
}

// hang blocks every call until the client gives up on it.
func hang(ctx context.Context, _ string, _ int) error {
	<-ctx.Done()
	return ctx.Err()
}

// testConfig is a fast configuration for region "hangzhou" (and others).
func testConfig(routers map[string][]string) Config {
	return Config{
		Region:         "hangzhou",
		Routers:        routers,
		Deadline:       time.Second,
		AttemptTimeout: 200 * time.Millisecond,
		BackoffMin:     5 * time.Millisecond,
		BackoffMax:     50 * time.Millisecond,
		ProbeInterval:  50 * time.Millisecond,
		Logger:         testLogger(),
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deadAddr is an address where nothing listens: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
