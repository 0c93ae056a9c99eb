package httpapi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func wantJSON(t *testing.T, res response, want map[string]any) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.raw)
	}
	if !reflect.DeepEqual(res.json, want) {
		t.Fatalf("body = %v\nwant   %v", res.json, want)
	}
}

func wantRequest(t *testing.T, call fakeCall, want proto.Message) {
	t.Helper()
	if !proto.Equal(call.req, want) {
		t.Fatalf("server got %v, want %v", call.req, want)
	}
}

var accountJSON = map[string]any{
	"id": "alice", "currency": "CNY", "balance_minor": "10000", "allow_negative_balance": false,
	"created_at_unix_ms": "1700000000000", "version": "3", "unknown_payouts": float64(0),
}

var transferJSON = map[string]any{
	"transfer_id": "t-1", "from_account_id": "alice", "to_account_id": "bob", "amount_minor": "1500",
	"currency": "CNY", "state": "TRANSFER_STATE_COMPLETED", "created_at_unix_ms": "1700000000002",
	"from_balance_after_minor": "8500", "to_balance_after_minor": "1500",
	"from_cell_id": "0", "to_cell_id": "0", "settled_at_unix_ms": "0", "reversal_reason": "",
}

func TestCreateAccount(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/accounts",
		body: `{"account_id":"alice","currency":"CNY"}`, headers: map[string]string{"Idempotency-Key": "acct-alice"}})
	wantJSON(t, res, accountJSON)
	wantRequest(t, srv.onlyCall(t, "CreateAccount"), &pb.CreateAccount{IdempotencyKey: "acct-alice", AccountId: "alice", Currency: "CNY"})
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestDepositAmountAsStringOrNumber(t *testing.T) {
	// Other spellings (1e4, "10000.0") are refused: see money_test.go.
	for name, amount := range map[string]string{"string": `"10000"`, "number": `10000`} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/deposits",
				body: `{"idempotency_key":"dep-1","account_id":"alice","amount_minor":` + amount + `,"currency":"CNY","external_ref":"bank-42"}`})
			wantJSON(t, res, map[string]any{
				"idempotency_key": "dep-1", "account_id": "alice", "amount_minor": "10000", "currency": "CNY",
				"external_ref": "bank-42", "balance_after_minor": "10000", "created_at_unix_ms": "1700000000001",
			})
			wantRequest(t, srv.onlyCall(t, "Deposit"), &pb.Deposit{IdempotencyKey: "dep-1", AccountId: "alice",
				AmountMinor: 10000, Currency: "CNY", ExternalRef: "bank-42"})
		})
	}
}

func TestTransfer(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers",
		body:    `{"from_account_id":"alice","to_account_id":"bob","amount_minor":"1500","currency":"CNY"}`,
		headers: map[string]string{"Idempotency-Key": "t-1"}})
	wantJSON(t, res, transferJSON)
	wantRequest(t, srv.onlyCall(t, "Transfer"), &pb.Transfer{TransferId: "t-1", FromAccountId: "alice",
		ToAccountId: "bob", AmountMinor: 1500, Currency: "CNY"})
}

func TestTransferJSONNamesAndInt64Extremes(t *testing.T) {
	srv := newFakeServer()
	srv.transfer = &pb.TransferRecord{TransferId: "t-2", AmountMinor: 9223372036854775807, FromBalanceAfterMinor: -9223372036854775808}
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers",
		body: `{"transferId":"t-2","fromAccountId":"alice","toAccountId":"bob","amountMinor":"9223372036854775807","currency":"CNY"}`})
	wantJSON(t, res, map[string]any{
		"transfer_id": "t-2", "from_account_id": "", "to_account_id": "", "amount_minor": "9223372036854775807",
		"currency": "", "state": "TRANSFER_STATE_UNSPECIFIED", "created_at_unix_ms": "0",
		"from_balance_after_minor": "-9223372036854775808", "to_balance_after_minor": "0",
		"from_cell_id": "0", "to_cell_id": "0", "settled_at_unix_ms": "0", "reversal_reason": "",
	})
	wantRequest(t, srv.onlyCall(t, "Transfer"), &pb.Transfer{TransferId: "t-2", FromAccountId: "alice",
		ToAccountId: "bob", AmountMinor: 9223372036854775807, Currency: "CNY"})
}

func TestGetAccount(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice"})
	wantJSON(t, res, accountJSON)
	wantRequest(t, srv.onlyCall(t, "GetAccount"), &pb.AccountLookup{AccountId: "alice"})
}

func TestGetAccountPathIsUnescaped(t *testing.T) {
	srv := newFakeServer()
	do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/al%3Aice"})
	wantRequest(t, srv.onlyCall(t, "GetAccount"), &pb.AccountLookup{AccountId: "al:ice"})
}

func TestGetTransfer(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/transfers/t-1?from_account_id=alice"})
	wantJSON(t, res, transferJSON)
	wantRequest(t, srv.onlyCall(t, "GetTransfer"), &pb.TransferLookup{TransferId: "t-1", FromAccountId: "alice"})
}

func TestListTransfers(t *testing.T) {
	srv := newFakeServer()
	srv.list = &pb.ListTransfersResponse{Transfers: []*pb.TransferRecord{srv.transfer}, NextPageToken: "next-1"}
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice/transfers?page_size=20&page_token=tok-0"})
	wantJSON(t, res, map[string]any{"transfers": []any{transferJSON}, "next_page_token": "next-1"})
	wantRequest(t, srv.onlyCall(t, "ListTransfers"), &pb.TransferListQuery{AccountId: "alice", PageSize: 20, PageToken: "tok-0"})
}

func TestListTransfersEmptyDefaults(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice/transfers"})
	// EmitUnpopulated: an empty page still has both fields.
	wantJSON(t, res, map[string]any{"transfers": []any{}, "next_page_token": ""})
	wantRequest(t, srv.onlyCall(t, "ListTransfers"), &pb.TransferListQuery{AccountId: "alice"})
}

var payoutJSON = map[string]any{
	"payout_id": "po-1", "account_id": "alice", "amount_minor": "2000", "currency": "CNY",
	"state": "PAYOUT_STATE_UNKNOWN", "provider": "bank-a", "failed_providers": []any{}, "reason": "", "provider_ref": "",
	"created_at_unix_ms": "1700000000003", "updated_at_unix_ms": "1700000000004",
	"unknown_since_unix_ms": "1700000000004", "balance_after_minor": "6500",
	"provider_payout_id": "", "submit_attempts": float64(0), "first_submit_at_unix_ms": "0",
}

func TestPayout(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/payouts",
		body:    `{"account_id":"alice","amount_minor":"2000","currency":"CNY","provider":"bank-a"}`,
		headers: map[string]string{"Idempotency-Key": "po-1"}})
	wantJSON(t, res, payoutJSON)
	wantRequest(t, srv.onlyCall(t, "Payout"), &pb.Payout{PayoutId: "po-1", AccountId: "alice", AmountMinor: 2000,
		Currency: "CNY", Provider: "bank-a"})
}

func TestGetPayout(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/payouts/po-1?account_id=alice"})
	wantJSON(t, res, payoutJSON)
	wantRequest(t, srv.onlyCall(t, "GetPayout"), &pb.PayoutLookup{PayoutId: "po-1", AccountId: "alice"})
}

func TestListPayouts(t *testing.T) {
	srv := newFakeServer()
	srv.payouts = &pb.ListPayoutsResponse{Payouts: []*pb.PayoutRecord{srv.payout}, NextPageToken: "next-1"}
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/payouts?state=unknown&cell_id=3&page_size=20&page_token=tok-0"})
	wantJSON(t, res, map[string]any{"payouts": []any{payoutJSON}, "next_page_token": "next-1"})
	wantRequest(t, srv.onlyCall(t, "ListPayouts"), &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_UNKNOWN,
		CellId: 3, PageSize: 20, PageToken: "tok-0"})
}

func TestListPayoutsEmptyDefaults(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/payouts"})
	wantJSON(t, res, map[string]any{"payouts": []any{}, "next_page_token": ""})
	wantRequest(t, srv.onlyCall(t, "ListPayouts"), &pb.PayoutListQuery{})
}

func TestPayoutStateAndCellID(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  *pb.PayoutListQuery
		field string // "" means accepted
	}{
		{"state=pending", &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_PENDING}, ""},
		{"state=SUCCEEDED", &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_SUCCEEDED}, ""},
		{"state=Failed", &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_FAILED}, ""},
		{"state=PAYOUT_STATE_UNKNOWN", &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_UNKNOWN}, ""},
		{"state=payout_state_pending", &pb.PayoutListQuery{State: pb.PayoutState_PAYOUT_STATE_PENDING}, ""},
		{"cell_id=0", &pb.PayoutListQuery{}, ""},
		{"cell_id=18446744073709551615", &pb.PayoutListQuery{CellId: 18446744073709551615}, ""},
		{"state=", nil, "state"},
		{"state=unspecified", nil, "state"},
		{"state=PAYOUT_STATE_UNSPECIFIED", nil, "state"},
		{"state=done", nil, "state"},
		{"state=4", nil, "state"},
		{"state=unknown&state=failed", nil, "state"},
		{"cell_id=", nil, "cell_id"},
		{"cell_id=-1", nil, "cell_id"},
		{"cell_id=one", nil, "cell_id"},
		{"cell_id=18446744073709551616", nil, "cell_id"},
		{"state=unknown&page_size=x", nil, "page_size"},
		{"status=unknown", nil, "status"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/payouts?" + tc.query})
			if tc.field != "" {
				e := res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", tc.field)
				if msg := e["message"].(string); tc.query != "state=unknown&state=failed" && tc.field == "state" && !strings.Contains(msg, "pending, succeeded, failed, unknown") {
					t.Errorf("message %q should list the states", msg)
				}
				if calls := srv.callsMade(); len(calls) != 0 {
					t.Fatalf("server called: %v", calls)
				}
				return
			}
			wantRequest(t, srv.onlyCall(t, "ListPayouts"), tc.want)
		})
	}
}

func TestPageSize(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  uint32
		ok    bool
	}{
		{"page_size=0", 0, true},
		{"page_size=4294967295", 4294967295, true},
		{"page_size=4294967296", 0, false},
		{"page_size=-1", 0, false},
		{"page_size=%2B5", 0, false},
		{"page_size=abc", 0, false},
		{"page_size=1.5", 0, false},
		{"page_size=", 0, false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice/transfers?" + tc.query})
			if !tc.ok {
				res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "page_size")
				if calls := srv.callsMade(); len(calls) != 0 {
					t.Fatalf("server called: %v", calls)
				}
				return
			}
			wantRequest(t, srv.onlyCall(t, "ListTransfers"), &pb.TransferListQuery{AccountId: "alice", PageSize: tc.want})
		})
	}
}

func TestQueryParameters(t *testing.T) {
	for _, tc := range []struct{ name, method, target, body, field string }{
		{"unknown on list", "GET", "/v1/accounts/alice/transfers?pagesize=5", "", "pagesize"},
		{"repeated", "GET", "/v1/accounts/alice/transfers?page_token=a&page_token=b", "", "page_token"},
		{"unknown on get account", "GET", "/v1/accounts/alice?verbose=1", "", "verbose"},
		{"unknown on get transfer", "GET", "/v1/transfers/t-1?from=alice", "", "from"},
		{"unknown on get payout", "GET", "/v1/payouts/po-1?from_account_id=alice", "", "from_account_id"},
		{"any on a payout", "POST", "/v1/payouts?payout_id=po-1", `{"payout_id":"po-1"}`, "payout_id"},
		{"any on a mutation", "POST", "/v1/transfers?transfer_id=t-1", `{"transfer_id":"t-1"}`, "transfer_id"},
		{"malformed", "GET", "/v1/accounts/alice/transfers?page_size=%zz", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: tc.method, target: tc.target, body: tc.body})
			res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", tc.field)
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}

func TestServerCallHasDeadline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		header string
		want   time.Duration
	}{
		{"default", Config{}, "", 5 * time.Second},
		{"configured", Config{RequestTimeout: 2 * time.Second}, "", 2 * time.Second},
		{"client shortens", Config{}, "300", 300 * time.Millisecond},
		{"client cannot lengthen", Config{RequestTimeout: time.Second}, "60000", time.Second},
		{"huge header", Config{}, "9223372036854775807", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer()
			before := time.Now()
			do(t, New(srv, tc.cfg), request{method: "GET", target: "/v1/accounts/alice",
				headers: map[string]string{HeaderRequestTimeoutMs: tc.header}})
			after := time.Now()
			call := srv.onlyCall(t, "GetAccount")
			if !call.hasDeadline {
				t.Fatal("server context has no deadline")
			}
			// The deadline was set between before and after.
			if call.deadline.Before(before.Add(tc.want)) || call.deadline.After(after.Add(tc.want)) {
				t.Fatalf("deadline %s after the request (which took %s), want %s", call.deadline.Sub(before), after.Sub(before), tc.want)
			}
		})
	}
}

func TestBadRequestTimeoutHeader(t *testing.T) {
	for _, v := range []string{"0", "-5", "abc", "1.5"} {
		t.Run(v, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice",
				headers: map[string]string{HeaderRequestTimeoutMs: v}})
			res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", HeaderRequestTimeoutMs)
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}
