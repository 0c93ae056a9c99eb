package router

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/httpapi"
)

// CreateAccount lets fakeCells record account openings: the overdraft
// tests assert that a refused one never reached a cell.
func (f *fakeCells) CreateAccount(ctx context.Context, req *pb.CreateAccountRequest) (*pb.Account, error) {
	f.note("CreateAccount", req.GetCellId())
	c := req.GetCommand()
	return &pb.Account{Id: c.GetAccountId(), Currency: c.GetCurrency(), AllowNegativeBalance: c.GetAllowNegativeBalance()}, nil
}

// servePayments serves p over gRPC, as the router does, and returns a
// client of it.
func servePayments(t *testing.T, p *payments) pb.PaymentsClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterPaymentsServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewPaymentsClient(conn)
}

// wantNoCreateAccount fails if any cell saw a CreateAccount.
func wantNoCreateAccount(t *testing.T, f *fakeCells) {
	t.Helper()
	for _, call := range f.callsMade() {
		if strings.HasPrefix(call, "CreateAccount ") {
			t.Fatalf("a cell saw %s; calls %v", call, f.callsMade())
		}
	}
}

func TestOverdraftRefusedOverGRPC(t *testing.T) {
	f := &fakeCells{}
	cl := servePayments(t, startFakeCells(t, 2, f))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := cl.CreateAccount(ctx, &pb.CreateAccount{IdempotencyKey: "acct-mallory", AccountId: "mallory",
		Currency: "CNY", AllowNegativeBalance: true})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want PERMISSION_DENIED", err)
	}
	info, ok := rpcstatus.Info(err)
	if !ok || info.GetReason() != "PERMISSION_DENIED" || info.GetMetadata()[rpcstatus.MetaField] != "allow_negative_balance" {
		t.Fatalf("ErrorInfo %v, want reason PERMISSION_DENIED naming allow_negative_balance", info)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "allow_negative_balance") ||
		!strings.Contains(msg, "cellpay account create --overdraft") {
		t.Fatalf("message %q should name the field and the operator command", msg)
	}
	wantNoCreateAccount(t, f)

	// Refused whatever else is wrong with the request: the flag alone decides.
	_, err = cl.CreateAccount(ctx, &pb.CreateAccount{AllowNegativeBalance: true})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("invalid request with the flag: err = %v, want PERMISSION_DENIED", err)
	}
	wantNoCreateAccount(t, f)

	// Without the flag the same account opens: the fake does record openings.
	acct, err := cl.CreateAccount(ctx, &pb.CreateAccount{IdempotencyKey: "acct-alice", AccountId: "alice", Currency: "CNY"})
	if err != nil || acct.GetAllowNegativeBalance() {
		t.Fatalf("plain account: %v, %v", acct, err)
	}
	if calls := f.callsMade(); len(calls) != 1 || !strings.HasPrefix(calls[0], "CreateAccount ") {
		t.Fatalf("cell calls %v, want one CreateAccount", calls)
	}
}

func TestOverdraftRefusedOverHTTP(t *testing.T) {
	f := &fakeCells{}
	h := httpapi.New(startFakeCells(t, 2, f), httpapi.Config{})
	post := func(body string) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/v1/accounts", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(httpapi.HeaderIdempotencyKey, "acct-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, out
	}

	for _, body := range []string{
		`{"account_id":"mallory","currency":"CNY","allow_negative_balance":true}`,
		`{"account_id":"mallory","currency":"CNY","allowNegativeBalance":true}`,
	} {
		code, out := post(body)
		e, _ := out["error"].(map[string]any)
		if code != http.StatusForbidden || e["code"] != "PERMISSION_DENIED" || e["reason"] != "PERMISSION_DENIED" ||
			e["field"] != "allow_negative_balance" || !strings.Contains(e["message"].(string), "cellpay account create --overdraft") {
			t.Fatalf("%s: status %d body %v, want 403 PERMISSION_DENIED naming allow_negative_balance", body, code, out)
		}
	}
	wantNoCreateAccount(t, f)

	// false is the default and changes nothing: it is forwarded.
	if code, out := post(`{"account_id":"alice","currency":"CNY","allow_negative_balance":false}`); code != http.StatusOK {
		t.Fatalf("plain account: status %d body %v", code, out)
	}
	if calls := f.callsMade(); len(calls) != 1 || !strings.HasPrefix(calls[0], "CreateAccount ") {
		t.Fatalf("cell calls %v, want one CreateAccount", calls)
	}
}
