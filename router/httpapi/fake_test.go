package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// fakeCall is one call the fake server received.
type fakeCall struct {
	method      string
	req         proto.Message
	deadline    time.Time
	hasDeadline bool
}

// fakeServer records calls and answers with scripted results: err when
// set, else the method's canned message (nil answers "no result").
type fakeServer struct {
	pb.UnimplementedPaymentsServer

	mu    sync.Mutex
	calls []fakeCall

	err      error
	account  *pb.Account
	deposit  *pb.DepositRecord
	transfer *pb.TransferRecord
	list     *pb.ListTransfersResponse
	payout   *pb.PayoutRecord
	payouts  *pb.ListPayoutsResponse
}

func newFakeServer() *fakeServer {
	return &fakeServer{
		account: &pb.Account{Id: "alice", Currency: "CNY", BalanceMinor: 10000, CreatedAtUnixMs: 1700000000000, Version: 3},
		deposit: &pb.DepositRecord{IdempotencyKey: "dep-1", AccountId: "alice", AmountMinor: 10000, Currency: "CNY",
			ExternalRef: "bank-42", BalanceAfterMinor: 10000, CreatedAtUnixMs: 1700000000001},
		transfer: &pb.TransferRecord{TransferId: "t-1", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 1500,
			Currency: "CNY", State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: 1700000000002,
			FromBalanceAfterMinor: 8500, ToBalanceAfterMinor: 1500},
		list: &pb.ListTransfersResponse{},
		payout: &pb.PayoutRecord{PayoutId: "po-1", AccountId: "alice", AmountMinor: 2000, Currency: "CNY",
			State: pb.PayoutState_PAYOUT_STATE_UNKNOWN, Provider: "bank-a", CreatedAtUnixMs: 1700000000003,
			UpdatedAtUnixMs: 1700000000004, UnknownSinceUnixMs: 1700000000004, BalanceAfterMinor: 6500},
		payouts: &pb.ListPayoutsResponse{},
	}
}

func (f *fakeServer) record(ctx context.Context, method string, req proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	deadline, ok := ctx.Deadline()
	f.calls = append(f.calls, fakeCall{method: method, req: proto.Clone(req), deadline: deadline, hasDeadline: ok})
	return f.err
}

// callsMade returns a copy of the calls so far.
func (f *fakeServer) callsMade() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// onlyCall asserts exactly one call was made, to method, and returns it.
func (f *fakeServer) onlyCall(t *testing.T, method string) fakeCall {
	t.Helper()
	calls := f.callsMade()
	if len(calls) != 1 || calls[0].method != method {
		t.Fatalf("calls = %v, want one %s", calls, method)
	}
	return calls[0]
}

func (f *fakeServer) CreateAccount(ctx context.Context, req *pb.CreateAccount) (*pb.Account, error) {
	if err := f.record(ctx, "CreateAccount", req); err != nil {
		return nil, err
	}
	return f.account, nil
}

func (f *fakeServer) Deposit(ctx context.Context, req *pb.Deposit) (*pb.DepositRecord, error) {
	if err := f.record(ctx, "Deposit", req); err != nil {
		return nil, err
	}
	return f.deposit, nil
}

func (f *fakeServer) Transfer(ctx context.Context, req *pb.Transfer) (*pb.TransferRecord, error) {
	if err := f.record(ctx, "Transfer", req); err != nil {
		return nil, err
	}
	return f.transfer, nil
}

func (f *fakeServer) GetAccount(ctx context.Context, req *pb.AccountLookup) (*pb.Account, error) {
	if err := f.record(ctx, "GetAccount", req); err != nil {
		return nil, err
	}
	return f.account, nil
}

func (f *fakeServer) GetTransfer(ctx context.Context, req *pb.TransferLookup) (*pb.TransferRecord, error) {
	if err := f.record(ctx, "GetTransfer", req); err != nil {
		return nil, err
	}
	return f.transfer, nil
}

func (f *fakeServer) ListTransfers(ctx context.Context, req *pb.TransferListQuery) (*pb.ListTransfersResponse, error) {
	if err := f.record(ctx, "ListTransfers", req); err != nil {
		return nil, err
	}
	return f.list, nil
}

func (f *fakeServer) Payout(ctx context.Context, req *pb.Payout) (*pb.PayoutRecord, error) {
	if err := f.record(ctx, "Payout", req); err != nil {
		return nil, err
	}
	return f.payout, nil
}

func (f *fakeServer) GetPayout(ctx context.Context, req *pb.PayoutLookup) (*pb.PayoutRecord, error) {
	if err := f.record(ctx, "GetPayout", req); err != nil {
		return nil, err
	}
	return f.payout, nil
}

func (f *fakeServer) ListPayouts(ctx context.Context, req *pb.PayoutListQuery) (*pb.ListPayoutsResponse, error) {
	if err := f.record(ctx, "ListPayouts", req); err != nil {
		return nil, err
	}
	return f.payouts, nil
}

// cellpayError builds a server error as the cell package does: a gRPC
// status with an ErrorInfo of domain "cellpay".
func cellpayError(c codes.Code, reason, field, msg string) error {
	meta := map[string]string{"cell_id": "7"}
	if field != "" {
		meta["field"] = field
	}
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Domain: "cellpay", Reason: reason, Metadata: meta})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// request describes one HTTP request of a test.
type request struct {
	method  string
	target  string
	body    string
	headers map[string]string // Content-Type defaults to application/json on POST
}

// response is a recorded answer with its JSON body decoded.
type response struct {
	status int
	header http.Header
	raw    string
	json   map[string]any
}

// do serves req on h and decodes the answer, failing unless the body is
// a JSON object of the right Content-Type.
func do(t *testing.T, h http.Handler, req request) response {
	t.Helper()
	var body io.Reader = http.NoBody
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r := httptest.NewRequest(req.method, req.target, body)
	if req.method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.headers {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type = %q, want application/json; body %s", req.method, req.target, ct, res.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.json); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %q", req.method, req.target, err, res.raw)
	}
	return res
}

// apiErr returns the "error" object of an error response.
func (r response) apiErr(t *testing.T) map[string]any {
	t.Helper()
	e, ok := r.json["error"].(map[string]any)
	if !ok || len(r.json) != 1 {
		t.Fatalf("body %s is not {\"error\": {...}}", r.raw)
	}
	return e
}

// wantError checks status, code, reason and field (field "" means absent).
func (r response) wantError(t *testing.T, httpStatus int, code, reason, field string) map[string]any {
	t.Helper()
	if r.status != httpStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, httpStatus, r.raw)
	}
	e := r.apiErr(t)
	if e["code"] != code || e["reason"] != reason || e["http_status"] != float64(httpStatus) {
		t.Fatalf("error = %v, want code %s reason %s http_status %d", e, code, reason, httpStatus)
	}
	got, has := e["field"]
	if field == "" && has {
		t.Fatalf("error has field %v, want none", got)
	}
	if field != "" && got != field {
		t.Fatalf("error field = %v, want %q; error %v", got, field, e)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error has no message: %v", e)
	}
	return e
}
