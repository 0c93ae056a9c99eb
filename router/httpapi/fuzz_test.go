package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// documentedStatuses are every status doc.go says the handler answers.
var documentedStatuses = map[int]bool{
	200: true, 400: true, 401: true, 403: true, 404: true, 405: true, 409: true, 413: true, 415: true,
	422: true, 429: true, 499: true, 500: true, 501: true, 503: true, 504: true,
}

// fuzzOutcomes are the fake server's possible answers, picked by a byte.
var fuzzOutcomes = []error{
	nil,
	cellpayError(codes.FailedPrecondition, "INSUFFICIENT_FUNDS", "amount_minor", "short"),
	cellpayError(codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED", "", "reused"),
	cellpayError(codes.Unavailable, "NOT_LEADER", "", "not leader"),
	status.Error(codes.Code(42), "\xff odd"),
	errors.New("plain"),
	context.DeadlineExceeded,
}

// FuzzHandler sends arbitrary methods, paths, headers and bodies: the
// handler must never panic, must answer a documented status with a JSON
// body, and must call the server only for a well-formed request.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/v1/transfers", "application/json", "t-1", "", []byte(`{"from_account_id":"alice","to_account_id":"bob","amount_minor":"1500","currency":"CNY"}`), uint8(0))
	f.Add("POST", "/v1/accounts", "application/json; charset=utf-8", "", "100", []byte(`{"idempotency_key":"a","account_id":"alice"}`), uint8(1))
	f.Add("POST", "/v1/deposits", "text/plain", "d", "", []byte(`{"amount_minor":1e400}`), uint8(2))
	f.Add("GET", "/v1/accounts/alice/transfers?page_size=99999999999&page_token=x", "", "", "abc", []byte(nil), uint8(3))
	f.Add("GET", "/v1/transfers/t-1?from_account_id=alice", "", "", "", []byte(nil), uint8(4))
	f.Add("DELETE", "//v1/../accounts/%2e%2e/x", "", "", "", []byte("{"), uint8(5))
	f.Add("GET", "/v1/accounts/alice", "", "", "-1", []byte(nil), uint8(6))
	f.Add("POST", "/v1/payouts", "application/json", "po-1", "", []byte(`{"account_id":"alice","amount_minor":"2000","currency":"CNY"}`), uint8(0))
	f.Add("GET", "/v1/payouts/po-1?account_id=alice", "", "", "", []byte(nil), uint8(3))
	f.Add("GET", "/v1/payouts?state=UnKnown&cell_id=18446744073709551616&page_size=5", "", "", "", []byte(nil), uint8(0))
	// Money fields in every spelling the check refuses, and some it accepts
	// (money.go); the server answers success, so a wrong acceptance shows.
	for _, amount := range []string{`"1e3"`, `1e3`, `1E3`, `"1.0"`, `1.0`, `"+5"`, `"007"`, `"-0"`, `-0`, `" 5"`,
		`null`, `{}`, `"9223372036854775808"`, `-9223372036854775809`, `"\u0031"`, `"1500"`, `-1500`} {
		f.Add("POST", "/v1/transfers", "application/json", "t-1", "",
			[]byte(`{"from_account_id":"alice","to_account_id":"bob","amount_minor":`+amount+`,"currency":"CNY"}`), uint8(0))
		f.Add("POST", "/v1/deposits", "application/json", "d-1", "", []byte(`{"account_id":"alice","amountMinor":`+amount+`}`), uint8(0))
		f.Add("POST", "/v1/payouts", "application/json", "po-1", "", []byte(`{"amount_minor":`+amount+`,"account_id":"alice"}`), uint8(0))
	}
	f.Add("POST", "/v1/transfers", "application/json", "t-1", "", []byte(`{"amount_minor":"5","amountMinor":"1e3"}`), uint8(0))
	f.Add("POST", "/v1/transfers", "application/json", "t-1", "", []byte(`{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,"amount_minor":1e3}`), uint8(0))
	f.Add("POST", "/v1/accounts", "application/json", "a-1", "", []byte(`{"account_id":"alice","currency":"CNY","allow_negative_balance":true}`), uint8(0))
	f.Add("CONNECT", "/v1/accounts/alice", "", "", "", []byte(nil), uint8(0))
	f.Add("", "*", "", "", "", []byte(nil), uint8(0))
	f.Fuzz(func(t *testing.T, method, target, contentType, key, timeoutMs string, body []byte, outcome uint8) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Skip("no server delivers a request whose target does not parse")
		}
		r := &http.Request{Method: method, URL: u, RequestURI: target, Host: "example.com", Proto: "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, ContentLength: int64(len(body))}
		if len(body) > 0 {
			r.Body = httpBody(body)
		}
		r = r.WithContext(context.Background())
		for name, v := range map[string]string{"Content-Type": contentType, HeaderIdempotencyKey: key, HeaderRequestTimeoutMs: timeoutMs} {
			if v != "" {
				r.Header.Set(name, v)
			}
		}
		srv := newFakeServer()
		srv.err = fuzzOutcomes[int(outcome)%len(fuzzOutcomes)]
		rec := httptest.NewRecorder()
		New(srv, Config{BodyBytesMax: 1 << 10}).ServeHTTP(rec, r)

		if !documentedStatuses[rec.Code] {
			t.Fatalf("undocumented status %d; body %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("body is not valid JSON: %q", rec.Body)
		}
		calls := srv.callsMade()
		if len(calls) > 1 {
			t.Fatalf("%d server calls for one request", len(calls))
		}
		for _, c := range calls {
			if !c.hasDeadline {
				t.Fatalf("%s called without a deadline", c.method)
			}
			switch req := c.req.(type) { // a mutation always reaches the server with its key
			case *pb.CreateAccount:
				if req.GetIdempotencyKey() == "" {
					t.Fatal("CreateAccount called without a key")
				}
			case *pb.Deposit:
				if req.GetIdempotencyKey() == "" {
					t.Fatal("Deposit called without a key")
				}
				wantCanonicalAmounts(t, body)
			case *pb.Transfer:
				if req.GetTransferId() == "" {
					t.Fatal("Transfer called without a transfer_id")
				}
				wantCanonicalAmounts(t, body)
			case *pb.Payout:
				if req.GetPayoutId() == "" {
					t.Fatal("Payout called without a payout_id")
				}
				wantCanonicalAmounts(t, body)
			}
		}
		if rec.Code == http.StatusOK {
			if len(calls) != 1 || srv.err != nil {
				t.Fatalf("200 with %d calls and server error %v", len(calls), srv.err)
			}
			return
		}
		var e errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil {
			t.Fatalf("error body %q does not decode: %v", rec.Body, err)
		}
		if e.Error.HTTPStatus != rec.Code || e.Error.Code == "" || e.Error.Reason == "" || e.Error.Message == "" {
			t.Fatalf("incomplete error %+v for status %d", e.Error, rec.Code)
		}
	})
}

// canonicalAmount is the one accepted spelling of an amount, written
// independently of money.go's check.
var canonicalAmount = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// wantCanonicalAmounts fails unless the amount of a body that reached the
// server is spelled canonically, as a JSON number or string, within int64.
func wantCanonicalAmounts(t *testing.T, body []byte) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("the server was called for a body encoding/json cannot read: %v: %q", err, body)
	}
	for _, name := range []string{"amount_minor", "amountMinor"} {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		text := strings.TrimSpace(string(raw))
		if strings.HasPrefix(text, `"`) {
			if err := json.Unmarshal(raw, &text); err != nil {
				t.Fatalf("%s %s: %v", name, raw, err)
			}
		}
		if _, err := strconv.ParseInt(text, 10, 64); !canonicalAmount.MatchString(text) || err != nil {
			t.Fatalf("the server was called with %s %s", name, raw)
		}
	}
}

// httpBody is a request body that is not an *bytes.Reader, so nothing
// but the handler's own limit bounds it.
func httpBody(b []byte) *bodyReader { return &bodyReader{bytes.NewReader(b)} }

type bodyReader struct{ r *bytes.Reader }

func (b *bodyReader) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *bodyReader) Close() error               { return nil }
