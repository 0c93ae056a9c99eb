package channel

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// requestBytesMax bounds a request body: a payout is ~150 bytes, a script
// of ScriptLenMax behaviours under 2 MiB.
const requestBytesMax = 2 << 20

// NewHTTPHandler serves sim over the JSON API doc.go describes. Bad input
// is answered 400 with the field to blame; the handler never panics on
// input. It does not authenticate: wrap it in RequireBearerToken unless it
// listens on loopback only.
func NewHTTPHandler(sim *Sim) http.Handler {
	return &httpHandler{sim: sim}
}

type httpHandler struct{ sim *Sim }

// ServeHTTP routes by hand: five endpoints, and a payout id is one path
// segment taken as it is (ValidatePayoutID rejects the ones a cleaning
// router would change).
func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/payouts":
		h.route(w, r, http.MethodPost, h.submit)
	case strings.HasPrefix(path, "/payouts/"):
		h.route(w, r, http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			h.query(w, r, strings.TrimPrefix(path, "/payouts/"))
		})
	case path == "/statement":
		h.route(w, r, http.MethodGet, h.statement)
	case path == "/behaviour":
		if r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, toBehavioursJSON(h.sim.Behaviours()))
			return
		}
		h.route(w, r, http.MethodPost, h.changeBehaviour, http.MethodGet)
	case path == "/healthz":
		h.route(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, healthJSON{Status: "ok", Provider: h.sim.Name(), IdempotencyWindow: idempotencyWindowText(h.sim.IdempotencyWindow())})
		})
	default:
		writeJSON(w, http.StatusNotFound, errorJSON{Error: fmt.Sprintf("channel: no endpoint %s", truncate(path)), Kind: kindNoEndpoint})
	}
}

// route calls serve if r's method is method, else answers 405;
// alsoAllowed are the path's other methods, for the Allow header.
func (h *httpHandler) route(w http.ResponseWriter, r *http.Request, method string, serve http.HandlerFunc, alsoAllowed ...string) {
	if r.Method != method {
		allowed := strings.Join(append([]string{method}, alsoAllowed...), ", ")
		w.Header().Set("Allow", allowed)
		writeJSON(w, http.StatusMethodNotAllowed, errorJSON{Error: fmt.Sprintf("channel: %s takes %s, not %s", truncate(r.URL.Path), allowed, truncate(r.Method)), Kind: kindMethod})
		return
	}
	serve(w, r)
}

// submit: POST /payouts with a Payout.
func (h *httpHandler) submit(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var p Payout
	if err := decodeStrict(body, &p, ErrInvalidPayout); err != nil {
		writeFieldError(w, kindBadRequest, err)
		return
	}
	res, err := h.sim.Submit(r.Context(), p)
	h.answer(w, p.ID, res, err)
}

// query: GET /payouts/{id}.
func (h *httpHandler) query(w http.ResponseWriter, r *http.Request, id string) {
	res, err := h.sim.Query(r.Context(), id)
	h.answer(w, id, res, err)
}

// answer writes the answer of a Submit or Query of payout id.
func (h *httpHandler) answer(w http.ResponseWriter, id string, res Result, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, resultJSON{PayoutID: id, Outcome: res.Outcome, Reason: res.Reason, ProviderRef: res.ProviderRef})
	case errors.Is(err, ErrInvalidPayout):
		writeFieldError(w, kindInvalidPayout, err)
	case errors.Is(err, ErrIDReused):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error(), Kind: kindIDReused, Field: "id", PayoutID: id})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorJSON{Error: err.Error(), Kind: kindNotFound, PayoutID: id})
	default:
		// Down, hung (the client is probably gone), closed: nothing
		// definite to say.
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: err.Error(), Kind: kindOutcomeUnknown, PayoutID: id})
	}
}

// statement: GET /statement.
func (h *httpHandler) statement(w http.ResponseWriter, _ *http.Request) {
	entries := h.sim.Statement()
	if entries == nil {
		entries = []StatementEntry{}
	}
	writeJSON(w, http.StatusOK, statementJSON{Provider: h.sim.Name(), Entries: entries, SubmitCalls: h.sim.AllSubmitCalls()})
}

// changeBehaviour: POST /behaviour with a partial behavioursJSON.
func (h *httpHandler) changeBehaviour(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req behavioursJSON
	if err := decodeStrict(body, &req, ErrInvalidBehaviour); err != nil {
		writeFieldError(w, kindBadRequest, err)
		return
	}
	change, err := req.change()
	if err != nil {
		writeFieldError(w, kindInvalidBehaviour, err)
		return
	}
	now, err := h.sim.ChangeBehaviours(change)
	if err != nil {
		writeFieldError(w, kindInvalidBehaviour, err)
		return
	}
	writeJSON(w, http.StatusOK, toBehavioursJSON(now))
}

// readBody reads the body, bounded by requestBytesMax; it answers 400 and
// returns false when it cannot.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, requestBytesMax))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("channel: body unreadable or larger than %d bytes: %v", requestBytesMax, err), Kind: kindBadRequest, Field: "body"})
		return nil, false
	}
	return body, true
}

// writeFieldError answers 400 with err's message and the field it names.
func writeFieldError(w http.ResponseWriter, kind string, err error) {
	writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error(), Kind: kind, Field: FieldOf(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"channel: cannot encode the answer","kind":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // The client went away: nothing to do.
}

// RequireBearerToken lets through only requests with the header
// "Authorization: Bearer TOKEN", except GET /healthz; the others are
// answered 401. An empty token lets nothing through but /healthz.
func RequireBearerToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Hashes have one length, so the comparison takes the same time
		// whatever was given.
		got := sha256.Sum256([]byte(given))
		if !ok || token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cellpay provider"`)
			writeJSON(w, http.StatusUnauthorized, errorJSON{Error: "channel: a valid bearer token is required", Kind: kindUnauthorized})
			return
		}
		next.ServeHTTP(w, r)
	})
}
