package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzHandler sends a behaviour change and then one request to a fresh
// simulator's handler: it never panics, always answers JSON with a status
// of the API, names a field on every 400 about a payout, and never pays
// what it did not answer (or could not answer) as paid.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(`{"submit":{"mode":"succeed"}}`), "POST", "/payouts", []byte(`{"id":"p-1","account":"a","amount_minor":5,"currency":"CNY"}`))
	f.Add([]byte(`{"submit":{"mode":"fail","reason":"no"}}`), "POST", "/payouts", []byte(`{"id":"p-1","account":"a","amount_minor":5,"currency":"CNY"}`))
	f.Add([]byte(`{"submit":{"mode":"timeout_after_success"}}`), "POST", "/payouts", []byte(`{"id":"p-1","account":"a","amount_minor":5,"currency":"CNY"}`))
	f.Add([]byte(`{"submit_script":[{"mode":"processing","settle":"SUCCEEDED"}]}`), "POST", "/payouts", []byte(`{"id":"x","account":"y","amount_minor":1,"currency":"USD"}`))
	f.Add([]byte(`{"query":{"mode":"timeout"}}`), "GET", "/payouts/p-1", []byte(nil))
	f.Add([]byte(`{"query":{"mode":"invalid"}}`), "GET", "/payouts/p-1", []byte(nil))
	f.Add([]byte(`{"submit":{"mode":"down","delay":"1s"}}`), "GET", "/statement", []byte(nil))
	f.Add([]byte(`{}`), "POST", "/behaviour", []byte(`{"query_script":[{"mode":"down"}]}`))
	f.Add([]byte(`null`), "GET", "/healthz", []byte(nil))
	f.Add([]byte(`{"submit":`), "POST", "/payouts", []byte(`{"id":"p-1","amount_minor":"5"}`))
	f.Add([]byte(``), "DELETE", "/payouts/..", []byte(`[]`))
	f.Fuzz(func(t *testing.T, behaviour []byte, method, path string, body []byte) {
		cfg := DefaultSimConfig("bank-a")
		cfg.HangDurationMax = time.Millisecond
		sim, err := NewSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		h := NewHTTPHandler(sim)

		status, _ := fuzzServe(t, h, http.MethodPost, "/behaviour", behaviour)
		if status != http.StatusOK && status != http.StatusBadRequest {
			t.Fatalf("POST /behaviour %q: %d", behaviour, status)
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		status, answer := fuzzServe(t, h, method, path, body)
		switch status {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusMethodNotAllowed, http.StatusServiceUnavailable:
		case 0:
			return // Not a request net/http would deliver.
		default:
			t.Fatalf("%s %q: status %d", method, path, status)
		}
		var apiErr errorJSON
		if status != http.StatusOK {
			if err := json.Unmarshal(answer, &apiErr); err != nil || apiErr.Error == "" || apiErr.Kind == "" {
				t.Fatalf("%s %q: %d answered %s", method, path, status, answer)
			}
			if status == http.StatusBadRequest && apiErr.Field == "" {
				t.Fatalf("%s %q: 400 names no field: %s", method, path, answer)
			}
		}

		st := sim.Statement()
		if len(st) > 1 {
			t.Fatalf("one request paid %d times: %+v", len(st), st)
		}
		if method == http.MethodPost && path == "/payouts" && status == http.StatusOK {
			var res resultJSON
			if err := json.Unmarshal(answer, &res); err != nil {
				t.Fatalf("answer %s: %v", answer, err)
			}
			paid := len(st) == 1 && st[0].PayoutID == res.PayoutID
			if (res.Outcome == OutcomeSucceeded) != paid {
				t.Fatalf("answered %s, statement %+v", answer, st)
			}
		}
		if len(st) == 1 && !(method == http.MethodPost && path == "/payouts") {
			t.Fatalf("%s %q paid %+v", method, path, st)
		}
	})
}

// fuzzServe serves one request with a short deadline (behaviours may hang
// or be slow); status 0 when the request cannot be built.
func fuzzServe(t *testing.T, h http.Handler, method, path string, body []byte) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://sim"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: Content-Type %q", method, path, ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %q: answer is not JSON: %q", method, path, rec.Body.Bytes())
	}
	return rec.Code, rec.Body.Bytes()
}
