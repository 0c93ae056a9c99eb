package channel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpSim is a simulator behind a test HTTP server and the HTTPProvider
// that calls it.
type httpSim struct {
	sim      *Sim
	url      string
	provider *HTTPProvider
}

func startHTTPSim(t *testing.T) *httpSim {
	t.Helper()
	sim := newTestSim(t)
	srv := httptest.NewServer(NewHTTPHandler(sim))
	// Close the simulator first: it releases the handlers that hang, which
	// srv.Close waits for.
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return &httpSim{sim: sim, url: srv.URL, provider: newTestHTTPProvider(t, srv.URL)}
}

func newTestHTTPProvider(t *testing.T, baseURL string) *HTTPProvider {
	t.Helper()
	p, err := NewHTTPProvider(DefaultHTTPProviderConfig("bank-a", baseURL))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// call sends one raw request and decodes the JSON answer into out (if not
// nil); it returns the status.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, url, ct, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s answered %s: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// setBehaviour posts a behaviour change to the server.
func (h *httpSim) setBehaviour(t *testing.T, body string) {
	t.Helper()
	var got behavioursJSON
	if status := call(t, http.MethodPost, h.url+"/behaviour", body, &got); status != http.StatusOK {
		t.Fatalf("POST /behaviour %s: %d", body, status)
	}
}

func (h *httpSim) statement(t *testing.T) []StatementEntry {
	t.Helper()
	entries, err := h.provider.ReadStatement(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestHTTPRoundTripOfEveryBehaviour(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	tests := []struct {
		name      string
		behaviour string
		// check runs Submit and Query through the provider.
		check func(t *testing.T, h *httpSim)
	}{
		{"succeed", `{"submit":{"mode":"succeed"}}`, func(t *testing.T, h *httpSim) {
			res, err := h.provider.Submit(bg, payout("p-1"))
			wantDefinite(t, "Submit", res, err, OutcomeSucceeded)
			if res.ProviderRef != "bank-a-000001" {
				t.Fatalf("ProviderRef %q", res.ProviderRef)
			}
			res, err = h.provider.Query(bg, "p-1")
			wantDefinite(t, "Query", res, err, OutcomeSucceeded)
			wantStatement(t, h.statement(t), "p-1")
		}},
		{"fail", `{"submit":{"mode":"fail","reason":"account closed"}}`, func(t *testing.T, h *httpSim) {
			res, err := h.provider.Submit(bg, payout("p-1"))
			wantDefinite(t, "Submit", res, err, OutcomeFailed)
			if res.Reason != "account closed" {
				t.Fatalf("Reason %q", res.Reason)
			}
			res, err = h.provider.Query(bg, "p-1")
			wantDefinite(t, "Query", res, err, OutcomeFailed)
			wantStatement(t, h.statement(t))
		}},
		{"timeout after success", `{"submit":{"mode":"timeout_after_success"}}`, func(t *testing.T, h *httpSim) {
			const timeout = 100 * time.Millisecond
			start := time.Now()
			res, err := h.provider.Submit(shortContext(t, timeout), payout("p-1"))
			wantUnknown(t, "Submit", res, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Submit: %v is not the deadline", err)
			}
			if elapsed := time.Since(start); elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Fatalf("Submit returned after %s, want about %s", elapsed, timeout)
			}
			wantStatement(t, h.statement(t), "p-1")
			res, err = h.provider.Query(bg, "p-1")
			wantDefinite(t, "Query", res, err, OutcomeSucceeded)
			if n := h.sim.SubmitCalls("p-1"); n != 1 {
				t.Fatalf("SubmitCalls = %d", n)
			}
		}},
		{"timeout before", `{"submit":{"mode":"timeout_before"}}`, func(t *testing.T, h *httpSim) {
			res, err := h.provider.Submit(shortContext(t, 50*time.Millisecond), payout("p-1"))
			wantUnknown(t, "Submit", res, err)
			if _, err := h.provider.Query(bg, "p-1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Query = %v, want ErrNotFound", err)
			}
			wantStatement(t, h.statement(t))
		}},
		{"slow", `{"submit":{"mode":"succeed","delay":"80ms"}}`, func(t *testing.T, h *httpSim) {
			start := time.Now()
			res, err := h.provider.Submit(bg, payout("p-1"))
			wantDefinite(t, "Submit", res, err, OutcomeSucceeded)
			if time.Since(start) < 80*time.Millisecond {
				t.Fatalf("answered after %s", time.Since(start))
			}
			res, err = h.provider.Submit(shortContext(t, 20*time.Millisecond), payout("p-2"))
			wantUnknown(t, "impatient Submit", res, err)
			wantStatement(t, h.statement(t), "p-1", "p-2")
		}},
		{"down", `{"submit":{"mode":"down"}}`, func(t *testing.T, h *httpSim) {
			res, err := h.provider.Submit(bg, payout("p-1"))
			wantUnknown(t, "Submit", res, err)
			if !strings.Contains(err.Error(), "HTTP 503") {
				t.Fatalf("Submit: %v", err)
			}
			if _, err := h.provider.Query(bg, "p-1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Query = %v, want ErrNotFound", err)
			}
		}},
		{"processing", `{"submit":{"mode":"processing","settle":"SUCCEEDED","settle_after_queries":1}}`, func(t *testing.T, h *httpSim) {
			res, err := h.provider.Submit(bg, payout("p-1"))
			if err != nil || res.Outcome != OutcomeUnknown || res.Reason != ReasonProcessing {
				t.Fatalf("Submit = %+v, %v; want processing", res, err)
			}
			if res, err := h.provider.Query(bg, "p-1"); err != nil || res.Reason != ReasonProcessing {
				t.Fatalf("first Query = %+v, %v; want processing", res, err)
			}
			res, err = h.provider.Query(bg, "p-1")
			wantDefinite(t, "second Query", res, err, OutcomeSucceeded)
			wantStatement(t, h.statement(t), "p-1")
		}},
		{"processing then failed", `{"submit":{"mode":"processing","settle":"FAILED","settle_reason":"limit"}}`, func(t *testing.T, h *httpSim) {
			if _, err := h.provider.Submit(bg, payout("p-1")); err != nil {
				t.Fatal(err)
			}
			res, err := h.provider.Query(bg, "p-1")
			wantDefinite(t, "Query", res, err, OutcomeFailed)
			if res.Reason != "limit" {
				t.Fatalf("Reason %q", res.Reason)
			}
		}},
		{"queries down, time out, slow", `{"query_script":[{"mode":"down"},{"mode":"timeout"},{"mode":"answer","delay":"50ms"}]}`, func(t *testing.T, h *httpSim) {
			if _, err := h.provider.Submit(bg, payout("p-1")); err != nil {
				t.Fatal(err)
			}
			res, err := h.provider.Query(bg, "p-1")
			wantUnknown(t, "down Query", res, err)
			res, err = h.provider.Query(shortContext(t, 50*time.Millisecond), "p-1")
			wantUnknown(t, "timed-out Query", res, err)
			start := time.Now()
			res, err = h.provider.Query(bg, "p-1")
			wantDefinite(t, "slow Query", res, err, OutcomeSucceeded)
			if time.Since(start) < 50*time.Millisecond {
				t.Fatalf("slow Query answered after %s", time.Since(start))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startHTTPSim(t)
			h.setBehaviour(t, tt.behaviour)
			tt.check(t, h)
		})
	}
}

func TestHTTPBehaviourEndpoint(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	var got behavioursJSON
	if status := call(t, http.MethodGet, h.url+"/behaviour", "", &got); status != http.StatusOK {
		t.Fatalf("GET /behaviour: %d", status)
	}
	if got.Submit.Mode != ModeSucceed || got.Query.Mode != QueryAnswer || len(*got.SubmitScript) != 0 || got.QueryScript == nil {
		t.Fatalf("GET /behaviour = %+v", got)
	}
	body := `{"submit_script":[{"mode":"fail","reason":"r"},{"mode":"processing","settle":"FAILED","settle_after_queries":2,"delay":"1.5s"}]}`
	if status := call(t, http.MethodPost, h.url+"/behaviour", body, &got); status != http.StatusOK {
		t.Fatalf("POST /behaviour: %d", status)
	}
	want := []Behaviour{{Mode: ModeFail, Reason: "r"}, {Mode: ModeProcessing, Settle: OutcomeFailed, SettleAfterQueries: 2, Delay: 1500 * time.Millisecond}}
	if b := h.sim.Behaviours(); len(b.SubmitScript) != 2 || b.SubmitScript[0] != want[0] || b.SubmitScript[1] != want[1] || b.Submit.Mode != ModeSucceed {
		t.Fatalf("behaviours after POST = %+v", b)
	}
	if (*got.SubmitScript)[1].Delay != "1.5s" || (*got.SubmitScript)[1].Settle != "FAILED" {
		t.Fatalf("POST /behaviour answered %+v", *got.SubmitScript)
	}
	h.setBehaviour(t, `{"submit_script":[]}`)
	if b := h.sim.Behaviours(); len(b.SubmitScript) != 0 {
		t.Fatalf("an empty script did not clear it: %+v", b)
	}
}

func TestHTTPBadInputIs400NamingTheField(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	tests := []struct {
		method, path, body string
		status             int
		kind, field        string
	}{
		{"POST", "/payouts", `{"id":`, 400, kindBadRequest, "body"},
		{"POST", "/payouts", ``, 400, kindBadRequest, "body"},
		{"POST", "/payouts", `[1,2]`, 400, kindBadRequest, "body"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":"100","currency":"CNY"}`, 400, kindBadRequest, "amount_minor"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":1.5,"currency":"CNY"}`, 400, kindBadRequest, "amount_minor"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":99999999999999999999,"currency":"CNY"}`, 400, kindBadRequest, "amount_minor"},
		{"POST", "/payouts", `{"id":7,"account":"a","amount_minor":1,"currency":"CNY"}`, 400, kindBadRequest, "id"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":1,"currency":"CNY","amount":5}`, 400, kindBadRequest, "amount"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":1,"currency":"CNY"} {}`, 400, kindBadRequest, "body"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":0,"currency":"CNY"}`, 400, kindInvalidPayout, "amount_minor"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":1,"currency":"cny"}`, 400, kindInvalidPayout, "currency"},
		{"POST", "/payouts", `{"id":"p 1","account":"a","amount_minor":1,"currency":"CNY"}`, 400, kindInvalidPayout, "id"},
		{"POST", "/payouts", `{"id":"p-1","amount_minor":1,"currency":"CNY"}`, 400, kindInvalidPayout, "account"},
		{"POST", "/payouts", `{"id":"p-1","account":"a","amount_minor":1,"currency":"CNY","pad":"` + strings.Repeat("x", requestBytesMax) + `"}`, 400, kindBadRequest, "body"},
		{"GET", "/payouts/p%201", ``, 400, kindInvalidPayout, "id"},
		{"GET", "/payouts/", ``, 400, kindInvalidPayout, "id"},
		{"POST", "/behaviour", `{"submit":{"mode":"explode"}}`, 400, kindInvalidBehaviour, "submit.mode"},
		{"POST", "/behaviour", `{"submit":{"mode":"succeed","delay":"soon"}}`, 400, kindInvalidBehaviour, "submit.delay"},
		{"POST", "/behaviour", `{"submit":{"mode":"processing","settle":"PAID"}}`, 400, kindInvalidBehaviour, "submit.settle"},
		{"POST", "/behaviour", `{"submit_script":[{"mode":"succeed"},{"mode":"nap"}]}`, 400, kindInvalidBehaviour, "submit_script[1].mode"},
		{"POST", "/behaviour", `{"query":{"mode":"answer","delay":"-1s"}}`, 400, kindInvalidBehaviour, "query.delay"},
		{"POST", "/behaviour", `{"submit":{"mode":"succeed","settle_after_queries":"x"}}`, 400, kindBadRequest, "submit.settle_after_queries"},
		{"POST", "/behaviour", `{"submitt":{}}`, 400, kindBadRequest, "submitt"},
		{"POST", "/behaviour", `{"submit":{"mode":"succeed","bogus":1}}`, 400, kindBadRequest, "bogus"},
		{"DELETE", "/payouts", ``, 405, kindMethod, ""},
		{"POST", "/statement", ``, 405, kindMethod, ""},
		{"PUT", "/behaviour", ``, 405, kindMethod, ""},
		{"GET", "/nowhere", ``, 404, kindNoEndpoint, ""},
	}
	for _, tt := range tests {
		var got errorJSON
		status := call(t, tt.method, h.url+tt.path, tt.body, &got)
		if status != tt.status || got.Kind != tt.kind || got.Field != tt.field || got.Error == "" {
			t.Errorf("%s %s %.80s: %d %+v; want %d kind %s field %q", tt.method, tt.path, tt.body, status, got, tt.status, tt.kind, tt.field)
		}
	}
	wantStatement(t, h.statement(t))
	if b := h.sim.Behaviours(); b.Submit.Mode != ModeSucceed || len(b.SubmitScript) != 0 {
		t.Fatalf("bad requests changed the behaviours: %+v", b)
	}
}

func TestHTTPIDReusedIsRejectedAndNotPaid(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	bg := context.Background()
	if _, err := h.provider.Submit(bg, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	other := payout("p-1")
	other.AmountMinor *= 2
	res, err := h.provider.Submit(bg, other)
	if !errors.Is(err, ErrIDReused) || Definite(res, err) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Submit of a reused id = %+v, %v; want ErrIDReused", res, err)
	}
	st := h.statement(t)
	wantStatement(t, st, "p-1")
	if st[0].AmountMinor != payout("p-1").AmountMinor {
		t.Fatalf("paid %+v", st[0])
	}
}

func TestHTTPConcurrentDuplicateSubmitsPayOnce(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	h.setBehaviour(t, `{"submit":{"mode":"succeed","delay":"5ms"}}`)
	const callers = 50
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			res, err := h.provider.Submit(context.Background(), payout("p-1"))
			if err != nil || res.ProviderRef != "bank-a-000001" {
				t.Errorf("Submit = %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	wantStatement(t, h.statement(t), "p-1")
	if n := h.sim.SubmitCalls("p-1"); n != callers {
		t.Fatalf("SubmitCalls = %d, want %d", n, callers)
	}
}

// Payout ids with dots reach the query as they are, also under a path
// prefix behind a ServeMux.
func TestHTTPQueryOfDotIDsUnderAPrefix(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	mux := http.NewServeMux()
	mux.Handle("/bank-a/", http.StripPrefix("/bank-a", NewHTTPHandler(sim)))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	provider := newTestHTTPProvider(t, srv.URL+"/bank-a/")
	for _, id := range []string{"...", "a..b", ".a", ":", "-"} {
		if _, err := provider.Query(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Query(%q) before Submit = %v, want ErrNotFound", id, err)
		}
		res, err := provider.Submit(context.Background(), payout(id))
		wantDefinite(t, "Submit "+id, res, err, OutcomeSucceeded)
		res, err = provider.Query(context.Background(), id)
		wantDefinite(t, "Query "+id, res, err, OutcomeSucceeded)
	}
	if entries, err := provider.ReadStatement(context.Background()); err != nil || len(entries) != 5 {
		t.Fatalf("statement: %d entries, %v", len(entries), err)
	}
}

// A server that accepts and never answers (a black hole, like a fiber
// cut): the provider gives up at the context's deadline with an error that
// is not definite.
func TestHTTPProviderHangingServerIsNotDefinite(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // Held open, never read or answered.
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	provider := newTestHTTPProvider(t, "http://"+ln.Addr().String())
	const timeout = 150 * time.Millisecond
	for name, do := range map[string]func(context.Context) (Result, error){
		"Submit": func(ctx context.Context) (Result, error) { return provider.Submit(ctx, payout("p-1")) },
		"Query":  func(ctx context.Context) (Result, error) { return provider.Query(ctx, "p-1") },
	} {
		start := time.Now()
		res, err := do(shortContext(t, timeout))
		elapsed := time.Since(start)
		wantUnknown(t, name, res, err)
		if !errors.Is(err, context.DeadlineExceeded) || elapsed > timeout+time.Second {
			t.Fatalf("%s: %v after %s; want the deadline's error at about %s", name, err, elapsed, timeout)
		}
	}

	// Without a deadline, CallTimeout bounds the call.
	cfg := DefaultHTTPProviderConfig("bank-a", "http://"+ln.Addr().String())
	cfg.CallTimeout = 100 * time.Millisecond
	bounded, err := NewHTTPProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := bounded.Submit(context.Background(), payout("p-1"))
	wantUnknown(t, "Submit without a deadline", res, err)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("CallTimeout did not bound the call: %s", elapsed)
	}
}

func TestHTTPProviderDeadAddressIsNotDefinite(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	provider := newTestHTTPProvider(t, "http://"+addr)
	res, err := provider.Submit(shortContext(t, 5*time.Second), payout("p-1"))
	wantUnknown(t, "Submit", res, err)
	res, err = provider.Query(shortContext(t, 5*time.Second), "p-1")
	wantUnknown(t, "Query", res, err)
}

// Whatever a server answers, only the answers of the contract are
// definite; nothing else becomes FAILED.
func TestHTTPProviderMapsOnlyKnownAnswersToDefinite(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		body   string
	}
	unknown := []answer{
		{500, `{"error":"boom"}`},
		{502, `<html>bad gateway</html>`},
		{503, `{"error":"down","kind":"outcome_unknown"}`},
		{504, ``},
		{404, `<html>no such page</html>`},
		{404, `{"error":"x","kind":"not_found","payout_id":"someone-else"}`},
		{404, `{"error":"x","kind":"not_found"}`},
		{409, `{"error":"conflict"}`},
		{400, `{"error":"x","kind":"bad_request","field":"body"}`},
		{401, `{"error":"x","kind":"unauthorized"}`},
		{302, ``},
		{200, `not json`},
		{200, `{"payout_id":"someone-else","outcome":"SUCCEEDED"}`},
		{200, `{"outcome":"FAILED"}`},
		{200, `{"payout_id":"p-1","outcome":"PAID"}`},
		{200, `{"payout_id":"p-1","outcome":3}`},
		{200, `{"payout_id":"p-1","outcome":"FAILED","reason":"` + strings.Repeat("r", ReasonBytesMax+1) + `"}`},
		{200, `{"payout_id":"p-1","outcome":"SUCCEEDED","pad":"` + strings.Repeat("x", answerBytesMax) + `"}`},
	}
	var mu sync.Mutex
	var current answer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := current
		mu.Unlock()
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	provider := newTestHTTPProvider(t, srv.URL)
	set := func(a answer) {
		mu.Lock()
		current = a
		mu.Unlock()
	}
	for _, a := range unknown {
		set(a)
		res, err := provider.Submit(context.Background(), payout("p-1"))
		wantUnknown(t, "Submit answered "+a.body, res, err)
		res, err = provider.Query(context.Background(), "p-1")
		wantUnknown(t, "Query answered "+a.body, res, err)
	}

	set(answer{400, `{"error":"bad","kind":"invalid_payout","field":"currency"}`})
	if _, err := provider.Submit(context.Background(), payout("p-1")); !errors.Is(err, ErrInvalidPayout) || FieldOf(err) != "currency" {
		t.Fatalf("invalid_payout: %v", err)
	}
	set(answer{409, `{"error":"reused","kind":"id_reused","payout_id":"p-1"}`})
	if _, err := provider.Submit(context.Background(), payout("p-1")); !errors.Is(err, ErrIDReused) {
		t.Fatalf("id_reused: %v", err)
	}
	set(answer{404, `{"error":"nf","kind":"not_found","payout_id":"p-1"}`})
	if _, err := provider.Query(context.Background(), "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not_found: %v", err)
	}
	set(answer{200, `{"payout_id":"p-1","outcome":"FAILED","reason":"closed"}`})
	res, err := provider.Query(context.Background(), "p-1")
	wantDefinite(t, "FAILED", res, err, OutcomeFailed)
}

func TestRequireBearerToken(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	srv := httptest.NewServer(RequireBearerToken("s3cret", NewHTTPHandler(sim)))
	t.Cleanup(func() { sim.Close(); srv.Close() })

	if status := call(t, http.MethodGet, srv.URL+"/healthz", "", nil); status != http.StatusOK {
		t.Fatalf("/healthz without a token: %d", status)
	}
	for _, token := range []string{"", "wrong", "S3CRET"} {
		cfg := DefaultHTTPProviderConfig("bank-a", srv.URL)
		cfg.Token = token
		p, err := NewHTTPProvider(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Submit(context.Background(), payout("p-1"))
		wantUnknown(t, "Submit with token "+token, res, err)
		if !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("token %q: %v", token, err)
		}
	}
	if status := call(t, http.MethodPost, srv.URL+"/behaviour", `{"submit":{"mode":"down"}}`, nil); status != http.StatusUnauthorized {
		t.Fatalf("POST /behaviour without a token: %d", status)
	}
	wantStatement(t, sim.Statement())

	cfg := DefaultHTTPProviderConfig("bank-a", srv.URL)
	cfg.Token = "s3cret"
	p, err := NewHTTPProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Submit(context.Background(), payout("p-1"))
	wantDefinite(t, "Submit with the token", res, err, OutcomeSucceeded)

	empty := httptest.NewServer(RequireBearerToken("", NewHTTPHandler(sim)))
	t.Cleanup(empty.Close)
	req, _ := http.NewRequest(http.MethodGet, empty.URL+"/statement", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an empty token let a request through: %d", resp.StatusCode)
	}
}

func TestHTTPProviderConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := NewHTTPProvider(HTTPProviderConfig{Name: "", BaseURL: "ftp://x", Token: "a\nb"})
	for _, field := range []string{"name:", "base_url:", "http_client:", "token:", "call_timeout:"} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%v does not name %s", err, field)
		}
	}
	for _, base := range []string{"", "127.0.0.1:7500", "http://", "http://h/?q=1", "://x"} {
		if _, err := NewHTTPProvider(DefaultHTTPProviderConfig("bank-a", base)); FieldOf(err) != "base_url" {
			t.Errorf("BaseURL %q: %v", base, err)
		}
	}
	if _, err := NewHTTPProvider(DefaultHTTPProviderConfig("bank-a", "https://bank.example/api/v1")); err != nil {
		t.Fatal(err)
	}
	// An invalid payout is rejected before any request.
	p := newTestHTTPProvider(t, "http://127.0.0.1:1")
	if _, err := p.Submit(context.Background(), Payout{ID: "p-1"}); !errors.Is(err, ErrInvalidPayout) {
		t.Fatalf("Submit of an invalid payout: %v", err)
	}
	if _, err := p.Query(context.Background(), ""); !errors.Is(err, ErrInvalidPayout) {
		t.Fatalf("Query of an empty id: %v", err)
	}
}

func TestHTTPStatementAndHealth(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	var health healthJSON
	if status := call(t, http.MethodGet, h.url+"/healthz", "", &health); status != http.StatusOK || health != (healthJSON{Status: "ok", Provider: "bank-a", IdempotencyWindow: "forever"}) {
		t.Fatalf("/healthz: %d %+v", status, health)
	}
	var st statementJSON
	if status := call(t, http.MethodGet, h.url+"/statement", "", &st); status != http.StatusOK || st.Entries == nil || len(st.Entries) != 0 {
		t.Fatalf("empty statement: %d %+v", status, st)
	}
	for range 2 {
		if _, err := h.provider.Submit(context.Background(), payout("p-1")); err != nil {
			t.Fatal(err)
		}
	}
	if status := call(t, http.MethodGet, h.url+"/statement", "", &st); status != http.StatusOK || len(st.Entries) != 1 || st.SubmitCalls["p-1"] != 2 || !st.Entries[0].PaidAt.Equal(testTime) {
		t.Fatalf("statement: %d %+v", status, st)
	}
	// A statement of another provider is not taken for this one's.
	other, err := NewHTTPProvider(DefaultHTTPProviderConfig("bank-b", h.url))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ReadStatement(context.Background()); err == nil || !strings.Contains(err.Error(), `"bank-a"`) {
		t.Fatalf("ReadStatement of bank-a as bank-b: %v", err)
	}
}

// A redirect is not followed, even to an answer that would be definite.
func TestHTTPProviderFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/elsewhere") {
			writeJSON(w, http.StatusOK, resultJSON{PayoutID: "p-1", Outcome: OutcomeSucceeded})
			return
		}
		http.Redirect(w, r, "/elsewhere"+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	provider := newTestHTTPProvider(t, srv.URL)
	res, err := provider.Submit(context.Background(), payout("p-1"))
	wantUnknown(t, "redirected Submit", res, err)
	res, err = provider.Query(context.Background(), "p-1")
	wantUnknown(t, "redirected Query", res, err)
}
