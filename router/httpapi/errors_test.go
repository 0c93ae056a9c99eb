package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func TestServerErrorMapping(t *testing.T) {
	otherDomain, _ := status.New(codes.NotFound, "no such thing").WithDetails(&errdetails.ErrorInfo{Domain: "elsewhere", Reason: "NOPE"})
	for _, tc := range []struct {
		name       string
		err        error
		httpStatus int
		code       string
		reason     string
		field      string
	}{
		{"invalid argument", cellpayError(codes.InvalidArgument, "INVALID_ARGUMENT", "currency", "cell: invalid currency"), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "currency"},
		{"amount not positive", cellpayError(codes.InvalidArgument, "AMOUNT_NOT_POSITIVE", "amount_minor", "amount must be positive"), 400, "INVALID_ARGUMENT", "AMOUNT_NOT_POSITIVE", "amount_minor"},
		{"not found", cellpayError(codes.NotFound, "ACCOUNT_NOT_FOUND", "", "no account bob"), 404, "NOT_FOUND", "ACCOUNT_NOT_FOUND", ""},
		{"already exists", cellpayError(codes.AlreadyExists, "ACCOUNT_EXISTS", "account_id", "alice exists"), 409, "ALREADY_EXISTS", "ACCOUNT_EXISTS", "account_id"},
		{"failed precondition", cellpayError(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "amount_minor", "balance 100 < 1500"), 409, "FAILED_PRECONDITION", "INSUFFICIENT_FUNDS", "amount_minor"},
		{"key reused", cellpayError(codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED", "", "key t-1 was used for other parameters"), 422, "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED", ""},
		{"unavailable", cellpayError(codes.Unavailable, "OUTCOME_UNKNOWN", "", "may have executed; retry with the same key"), 503, "UNAVAILABLE", "OUTCOME_UNKNOWN", ""},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, "too slow"), 504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED", ""},
		{"unauthenticated", status.Error(codes.Unauthenticated, "who are you"), 401, "UNAUTHENTICATED", "UNAUTHENTICATED", ""},
		{"permission denied", status.Error(codes.PermissionDenied, "not yours"), 403, "PERMISSION_DENIED", "PERMISSION_DENIED", ""},
		{"resource exhausted", cellpayError(codes.ResourceExhausted, "RATE_LIMITED", "", "slow down"), 429, "RESOURCE_EXHAUSTED", "RATE_LIMITED", ""},
		{"unimplemented", status.Error(codes.Unimplemented, "not yet"), 501, "UNIMPLEMENTED", "UNIMPLEMENTED", ""},
		{"canceled", status.Error(codes.Canceled, "client left"), 499, "CANCELLED", "CANCELLED", ""},
		{"internal", status.Error(codes.Internal, "bug"), 500, "INTERNAL", "INTERNAL", ""},
		{"aborted", status.Error(codes.Aborted, "conflict"), 500, "ABORTED", "ABORTED", ""},
		{"data loss", status.Error(codes.DataLoss, "gone"), 500, "DATA_LOSS", "DATA_LOSS", ""},
		{"unknown code number", status.Error(codes.Code(99), "odd"), 500, "CODE_99", "CODE_99", ""},
		{"plain error", errors.New("boom"), 500, "UNKNOWN", "UNKNOWN", ""},
		{"wrapped status", fmt.Errorf("router: %w", cellpayError(codes.NotFound, "TRANSFER_NOT_FOUND", "transfer_id", "no t-9")), 404, "NOT_FOUND", "TRANSFER_NOT_FOUND", "transfer_id"},
		{"bare deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), 504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED", ""},
		{"bare cancel", context.Canceled, 499, "CANCELLED", "CANCELLED", ""},
		{"other domain ignored", otherDomain.Err(), 404, "NOT_FOUND", "NOT_FOUND", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer()
			srv.err = tc.err
			res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers",
				body: `{"transfer_id":"t-1","from_account_id":"alice","to_account_id":"bob","amount_minor":"1500","currency":"CNY"}`})
			e := res.wantError(t, tc.httpStatus, tc.code, tc.reason, tc.field)
			if want := status.Convert(tc.err).Message(); tc.err != context.Canceled && e["message"] != want {
				t.Errorf("message = %v, want the server's %q", e["message"], want)
			}
			if got, want := res.header.Get("Retry-After"), map[bool]string{true: "1"}[tc.httpStatus == 503]; got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
			srv.onlyCall(t, "Transfer")
		})
	}
}

func TestErrorBodyExactShape(t *testing.T) {
	srv := newFakeServer()
	srv.err = cellpayError(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "amount_minor", "balance 100 < 1500")
	res := do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice"})
	want := `{"error":{"code":"FAILED_PRECONDITION","http_status":409,"reason":"INSUFFICIENT_FUNDS","message":"balance 100 < 1500","field":"amount_minor"}}` + "\n"
	if strings.ReplaceAll(res.raw, `\u003c`, "<") != want {
		t.Fatalf("body = %s\nwant   %s", res.raw, want)
	}
}

func TestServerErrorsOnEveryRoute(t *testing.T) {
	for _, req := range []request{
		{method: "POST", target: "/v1/accounts", body: `{"idempotency_key":"k","account_id":"bob"}`},
		{method: "POST", target: "/v1/deposits", body: `{"idempotency_key":"k","account_id":"bob"}`},
		{method: "POST", target: "/v1/transfers", body: `{"transfer_id":"t"}`},
		{method: "GET", target: "/v1/accounts/bob"},
		{method: "GET", target: "/v1/accounts/bob/transfers"},
		{method: "GET", target: "/v1/transfers/t?from_account_id=bob"},
		{method: "POST", target: "/v1/payouts", body: `{"payout_id":"po"}`},
		{method: "GET", target: "/v1/payouts/po?account_id=bob"},
		{method: "GET", target: "/v1/payouts?state=unknown"},
	} {
		t.Run(req.method+req.target, func(t *testing.T) {
			srv := newFakeServer()
			srv.err = cellpayError(codes.NotFound, "ACCOUNT_NOT_FOUND", "account_id", "no account bob")
			do(t, New(srv, Config{}), req).wantError(t, 404, "NOT_FOUND", "ACCOUNT_NOT_FOUND", "account_id")
		})
	}
}

func TestNilResultIsInternal(t *testing.T) {
	srv := newFakeServer()
	srv.account = nil
	do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice"}).
		wantError(t, 500, "INTERNAL", ReasonInternal, "")
}

func TestUnencodableResultIsInternal(t *testing.T) {
	srv := newFakeServer()
	srv.account = &pb.Account{Id: "bad\xffutf8"}
	do(t, New(srv, Config{}), request{method: "GET", target: "/v1/accounts/alice"}).
		wantError(t, 500, "INTERNAL", ReasonInternal, "")
}

func TestMalformedJSON(t *testing.T) {
	// A money field's wrong type, fraction or overflow is refused before
	// protojson, naming the field (money_test.go); these cases use others.
	for name, body := range map[string]string{
		"empty":           "",
		"truncated":       `{"transfer_id":"t-1"`,
		"not an object":   `[1,2]`,
		"null":            `null`,
		"wrong type":      `{"from_account_id":true}`,
		"fractional int":  `{"to_cell_id":1.5}`,
		"uint64 overflow": `{"to_cell_id":"18446744073709551616"}`,
		"duplicate field": `{"transfer_id":"a","transfer_id":"b"}`,
		"trailing data":   `{"transfer_id":"t-1"} {}`,
		"invalid utf8":    "{\"transfer_id\":\"\xff\"}",
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers", body: body,
				headers: map[string]string{HeaderIdempotencyKey: "t-1"}})
			res.wantError(t, 400, "INVALID_ARGUMENT", ReasonMalformedJSON, "")
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}

func TestUnknownFieldIsNamed(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers",
		body: `{"transfer_id":"t-1","amount":"1500"}`})
	e := res.wantError(t, 400, "INVALID_ARGUMENT", ReasonMalformedJSON, "amount")
	if msg := e["message"].(string); !strings.Contains(msg, `unknown field "amount"`) {
		t.Fatalf("message %q should be protojson's, naming the field", msg)
	}
	if calls := srv.callsMade(); len(calls) != 0 {
		t.Fatalf("server called: %v", calls)
	}
}

func TestBodyTooLarge(t *testing.T) {
	const limit = 64
	big := `{"transfer_id":"` + strings.Repeat("x", 100) + `"}`
	t.Run("declared length", func(t *testing.T) {
		srv := newFakeServer()
		res := do(t, New(srv, Config{BodyBytesMax: limit}), request{method: "POST", target: "/v1/transfers", body: big})
		res.wantError(t, 413, "INVALID_ARGUMENT", ReasonBodyTooLarge, "")
	})
	t.Run("unknown length", func(t *testing.T) {
		srv := newFakeServer()
		r := httptest.NewRequest("POST", "/v1/transfers", io.MultiReader(strings.NewReader(big)))
		r.ContentLength = -1 // chunked: only reading finds out
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		New(srv, Config{BodyBytesMax: limit}).ServeHTTP(rec, r)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), `"reason":"BODY_TOO_LARGE"`) {
			t.Fatalf("status %d body %s, want 413 BODY_TOO_LARGE", rec.Code, rec.Body)
		}
		if calls := srv.callsMade(); len(calls) != 0 {
			t.Fatalf("server called: %v", calls)
		}
	})
	t.Run("default limit is 64 KiB", func(t *testing.T) {
		srv := newFakeServer()
		body := `{"transfer_id":"t-1","currency":"` + strings.Repeat("x", 64<<10) + `"}`
		do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers", body: body}).
			wantError(t, 413, "INVALID_ARGUMENT", ReasonBodyTooLarge, "")
	})
	t.Run("at the limit passes", func(t *testing.T) {
		srv := newFakeServer()
		body := `{"transfer_id":"t-1"}`
		res := do(t, New(srv, Config{BodyBytesMax: int64(len(body))}), request{method: "POST", target: "/v1/transfers", body: body})
		if res.status != 200 {
			t.Fatalf("status %d: %s", res.status, res.raw)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestBodyUnreadable(t *testing.T) {
	srv := newFakeServer()
	r := httptest.NewRequest("POST", "/v1/transfers", failingReader{})
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	New(srv, Config{}).ServeHTTP(rec, r)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"reason":"BODY_UNREADABLE"`) {
		t.Fatalf("status %d body %s, want 400 BODY_UNREADABLE", rec.Code, rec.Body)
	}
}

func TestContentType(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		ok          bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON; charset=UTF-8", true},
		{"application/json;charset=latin1", false},
		{"text/plain", false},
		{"application/x-www-form-urlencoded", false},
		{"application/jsonx", false},
		{"application/json; =bad", false},
		{"", false},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers", body: `{"transfer_id":"t-1"}`,
				headers: map[string]string{"Content-Type": tc.contentType}})
			if tc.ok {
				if res.status != 200 {
					t.Fatalf("status %d: %s", res.status, res.raw)
				}
				return
			}
			res.wantError(t, 415, "INVALID_ARGUMENT", ReasonUnsupportedMediaType, "")
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	for _, target := range []string{
		"/", "/v1", "/v1/", "/v2/accounts", "/v1/accounts/", "/v1/accounts/alice/", "/v1/accounts/alice/transfers/t-1",
		"/v1/transfers/", "/v1/payouts/", "/v1/payouts/po-1/x", "/v1/payout", "//v1/accounts/alice", "/v1/accounts/./alice", "/v1/x/../accounts/alice",
	} {
		t.Run(target, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: "GET", target: target})
			res.wantError(t, 404, "NOT_FOUND", ReasonNotFound, "")
			if loc := res.header.Get("Location"); loc != "" {
				t.Errorf("Location %q leaked from the mux", loc)
			}
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, tc := range []struct{ method, target, allow string }{
		{"GET", "/v1/accounts", "POST"},
		{"PUT", "/v1/transfers", "POST"},
		{"DELETE", "/v1/accounts/alice", "GET, HEAD"},
		{"POST", "/v1/accounts/alice/transfers", "GET, HEAD"},
		{"PATCH", "/v1/transfers/t-1", "GET, HEAD"},
		{"DELETE", "/v1/payouts", "GET, HEAD, POST"},
		{"POST", "/v1/payouts/po-1", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			srv := newFakeServer()
			res := do(t, New(srv, Config{}), request{method: tc.method, target: tc.target,
				headers: map[string]string{"Content-Type": "application/json"}})
			res.wantError(t, 405, "UNIMPLEMENTED", ReasonMethodNotAllowed, "")
			if got := res.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow = %q, want %q", got, tc.allow)
			}
			if ct := res.header.Values("Content-Type"); len(ct) != 1 {
				t.Fatalf("Content-Type = %q, want one value", ct)
			}
		})
	}
}

func TestHeadIsServedLikeGet(t *testing.T) {
	srv := newFakeServer()
	res := do(t, New(srv, Config{}), request{method: "HEAD", target: "/v1/accounts/alice"})
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	srv.onlyCall(t, "GetAccount")
}
