package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// keyCase is one combination of body key and Idempotency-Key header.
type keyCase struct {
	name      string
	bodyKey   string // "" leaves the key out of the body
	headerKey string // "" sends no header
	wantKey   string // "" means refused with 400
}

var keyCases = []keyCase{
	{"header only", "", "k-1", "k-1"},
	{"body only", "k-1", "", "k-1"},
	{"both equal", "k-1", "k-1", "k-1"},
	{"both differ", "k-1", "k-2", ""},
	{"neither", "", "", ""},
}

func TestIdempotencyKeyRules(t *testing.T) {
	for _, route := range []struct {
		target, method, field, body string
		request                     func(key string) proto.Message
	}{
		{"/v1/accounts", "CreateAccount", "idempotency_key", `"account_id":"alice","currency":"CNY"`,
			func(key string) proto.Message {
				return &pb.CreateAccount{IdempotencyKey: key, AccountId: "alice", Currency: "CNY"}
			}},
		{"/v1/deposits", "Deposit", "idempotency_key", `"account_id":"alice","amount_minor":5,"currency":"CNY"`,
			func(key string) proto.Message {
				return &pb.Deposit{IdempotencyKey: key, AccountId: "alice", AmountMinor: 5, Currency: "CNY"}
			}},
		{"/v1/transfers", "Transfer", "transfer_id", `"from_account_id":"alice","to_account_id":"bob","amount_minor":5,"currency":"CNY"`,
			func(key string) proto.Message {
				return &pb.Transfer{TransferId: key, FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 5, Currency: "CNY"}
			}},
		{"/v1/payouts", "Payout", "payout_id", `"account_id":"alice","amount_minor":5,"currency":"CNY"`,
			func(key string) proto.Message {
				return &pb.Payout{PayoutId: key, AccountId: "alice", AmountMinor: 5, Currency: "CNY"}
			}},
	} {
		for _, tc := range keyCases {
			t.Run(route.method+"/"+tc.name, func(t *testing.T) {
				body := "{" + route.body
				if tc.bodyKey != "" {
					body += `,"` + route.field + `":"` + tc.bodyKey + `"`
				}
				body += "}"
				srv := newFakeServer()
				res := do(t, New(srv, Config{}), request{method: "POST", target: route.target, body: body,
					headers: map[string]string{HeaderIdempotencyKey: tc.headerKey}})
				if tc.wantKey == "" {
					res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", route.field)
					if calls := srv.callsMade(); len(calls) != 0 {
						t.Fatalf("server called despite the refused key: %v", calls)
					}
					return
				}
				if res.status != 200 {
					t.Fatalf("status %d: %s", res.status, res.raw)
				}
				wantRequest(t, srv.onlyCall(t, route.method), route.request(tc.wantKey))
			})
		}
	}
}

func TestIdempotencyKeyHeaderTwice(t *testing.T) {
	srv := newFakeServer()
	r := httptest.NewRequest("POST", "/v1/transfers", strings.NewReader(`{"from_account_id":"alice"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add(HeaderIdempotencyKey, "t-1")
	r.Header.Add(HeaderIdempotencyKey, "t-2")
	rec := httptest.NewRecorder()
	New(srv, Config{}).ServeHTTP(rec, r)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"transfer_id"`) {
		t.Fatalf("status %d body %s, want 400 naming transfer_id", rec.Code, rec.Body)
	}
	if calls := srv.callsMade(); len(calls) != 0 {
		t.Fatalf("server called: %v", calls)
	}
}

func TestMissingKeyMessageSaysWhere(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/deposits", body: `{"account_id":"alice"}`})
	e := res.wantError(t, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "idempotency_key")
	if msg := e["message"].(string); !strings.Contains(msg, "Idempotency-Key") || !strings.Contains(msg, "idempotency_key") {
		t.Fatalf("message %q should name the field and the header", msg)
	}
}
