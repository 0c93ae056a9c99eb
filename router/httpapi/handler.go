package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

var marshalOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// handler serves the routes of doc.go on a ServeMux.
type handler struct {
	srv pb.PaymentsServer
	cfg Config
	mux *http.ServeMux
}

// New returns the HTTP/JSON handler of the Payments API, calling srv in
// process. Zero fields of cfg take their defaults. New panics if srv is nil
// or cfg is invalid (both programmer errors); cfg.Validate reports the
// latter as an error beforehand.
func New(srv pb.PaymentsServer, cfg Config) http.Handler {
	if srv == nil {
		panic("httpapi: New: nil PaymentsServer")
	}
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("httpapi: New: %v", err))
	}
	h := &handler{srv: srv, cfg: cfg.withDefaults(), mux: http.NewServeMux()}
	h.handle("POST /v1/accounts", h.createAccount)
	h.handle("POST /v1/deposits", h.deposit)
	h.handle("POST /v1/transfers", h.transfer)
	h.handle("GET /v1/accounts/{account_id}", h.getAccount)
	h.handle("GET /v1/accounts/{account_id}/transfers", h.listTransfers)
	h.handle("GET /v1/transfers/{transfer_id}", h.getTransfer)
	h.handle("POST /v1/payouts", h.payout)
	h.handle("GET /v1/payouts", h.listPayouts)
	h.handle("GET /v1/payouts/{payout_id}", h.getPayout)
	return h
}

// ServeHTTP routes r. What the ServeMux answers by itself (404, 405, a
// redirect to a cleaned path) is rewritten as a JSON error by
// fallbackWriter; the routes write to w directly.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fw := newFallbackWriter(w, r)
	h.mux.ServeHTTP(fw, r)
	if !fw.routed && !fw.answered {
		fw.WriteHeader(http.StatusNotFound) // a mux answer that wrote nothing
	}
}

// handle registers a route; the route marks the fallbackWriter so the mux
// fallbacks are told apart from it.
func (h *handler) handle(pattern string, route func(http.ResponseWriter, *http.Request)) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if fw, ok := w.(*fallbackWriter); ok {
			fw.routed = true
			w = fw.w
		}
		route(w, r)
	})
}

func (h *handler) createAccount(w http.ResponseWriter, r *http.Request) {
	req := &pb.CreateAccount{}
	timeout, e := h.startMutation(w, r, req)
	if e == nil {
		req.IdempotencyKey, e = idempotencyKey(r, "idempotency_key", req.GetIdempotencyKey())
	}
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, req, h.srv.CreateAccount)
}

func (h *handler) deposit(w http.ResponseWriter, r *http.Request) {
	req := &pb.Deposit{}
	timeout, e := h.startMutation(w, r, req)
	if e == nil {
		req.IdempotencyKey, e = idempotencyKey(r, "idempotency_key", req.GetIdempotencyKey())
	}
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, req, h.srv.Deposit)
}

func (h *handler) transfer(w http.ResponseWriter, r *http.Request) {
	req := &pb.Transfer{}
	timeout, e := h.startMutation(w, r, req)
	if e == nil {
		// A transfer's id is its idempotency key.
		req.TransferId, e = idempotencyKey(r, "transfer_id", req.GetTransferId())
	}
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, req, h.srv.Transfer)
}

func (h *handler) getAccount(w http.ResponseWriter, r *http.Request) {
	_, timeout, e := h.start(r)
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, &pb.AccountLookup{AccountId: r.PathValue("account_id")}, h.srv.GetAccount)
}

func (h *handler) getTransfer(w http.ResponseWriter, r *http.Request) {
	q, timeout, e := h.start(r, "from_account_id")
	if e != nil {
		writeError(w, e)
		return
	}
	req := &pb.TransferLookup{TransferId: r.PathValue("transfer_id"), FromAccountId: q.Get("from_account_id")}
	invoke(w, r, timeout, req, h.srv.GetTransfer)
}

func (h *handler) listTransfers(w http.ResponseWriter, r *http.Request) {
	q, timeout, e := h.start(r, "page_size", "page_token")
	var pageSize uint32
	if e == nil {
		pageSize, e = parsePageSize(q)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	req := &pb.TransferListQuery{AccountId: r.PathValue("account_id"), PageSize: pageSize, PageToken: q.Get("page_token")}
	invoke(w, r, timeout, req, h.srv.ListTransfers)
}

func (h *handler) payout(w http.ResponseWriter, r *http.Request) {
	req := &pb.Payout{}
	timeout, e := h.startMutation(w, r, req)
	if e == nil {
		// A payout's id is its idempotency key, here and at the provider.
		req.PayoutId, e = idempotencyKey(r, "payout_id", req.GetPayoutId())
	}
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, req, h.srv.Payout)
}

func (h *handler) getPayout(w http.ResponseWriter, r *http.Request) {
	q, timeout, e := h.start(r, "account_id")
	if e != nil {
		writeError(w, e)
		return
	}
	req := &pb.PayoutLookup{PayoutId: r.PathValue("payout_id"), AccountId: q.Get("account_id")}
	invoke(w, r, timeout, req, h.srv.GetPayout)
}

func (h *handler) listPayouts(w http.ResponseWriter, r *http.Request) {
	q, timeout, e := h.start(r, "state", "cell_id", "page_size", "page_token")
	req := &pb.PayoutListQuery{PageToken: q.Get("page_token")}
	if e == nil {
		req.State, e = parsePayoutState(q)
	}
	if e == nil {
		req.CellId, e = parseCellID(q)
	}
	if e == nil {
		req.PageSize, e = parsePageSize(q)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	invoke(w, r, timeout, req, h.srv.ListPayouts)
}

// start checks what every route shares: the query parameters (only those
// named are accepted) and the timeout header.
func (h *handler) start(r *http.Request, queryParams ...string) (url.Values, time.Duration, *apiError) {
	q, e := parseQuery(r, queryParams...)
	if e != nil {
		return nil, 0, e
	}
	timeout, e := h.callTimeout(r)
	return q, timeout, e
}

// startMutation is start (no query parameters) and the JSON body into req.
func (h *handler) startMutation(w http.ResponseWriter, r *http.Request, req proto.Message) (time.Duration, *apiError) {
	_, timeout, e := h.start(r)
	if e == nil {
		e = h.decodeBody(w, r, req)
	}
	return timeout, e
}

// invoke calls the server with a deadline and writes its answer.
func invoke[Req any, Resp proto.Message](w http.ResponseWriter, r *http.Request, timeout time.Duration, req Req,
	call func(context.Context, Req) (Resp, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	resp, err := call(ctx, req)
	if err != nil {
		writeError(w, serverError(err))
		return
	}
	if !resp.ProtoReflect().IsValid() { // a nil message without an error
		writeError(w, handlerError(http.StatusInternalServerError, codes.Internal, ReasonInternal,
			"httpapi: the payments server returned neither a result nor an error"))
		return
	}
	body, err := marshalOptions.Marshal(resp)
	if err != nil { // e.g. a string field that is not UTF-8
		writeError(w, handlerError(http.StatusInternalServerError, codes.Internal, ReasonInternal,
			fmt.Sprintf("httpapi: encoding the response: %v", err)))
		return
	}
	writeJSON(w, http.StatusOK, body)
}
