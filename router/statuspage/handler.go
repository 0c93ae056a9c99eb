package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
)

// Reasons of the handler's error answers.
const (
	ReasonMethodNotAllowed  = "METHOD_NOT_ALLOWED"
	ReasonBusy              = "STATUS_BUSY"
	ReasonStatusUnavailable = "STATUS_UNAVAILABLE"
	ReasonInternal          = "INTERNAL"
)

// contentSecurityPolicy lets the page load its script and style sheet and
// fetch its data from the router, and nothing else from anywhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// statusJSON is how /status.json is written: the same form as
// `cellpay status -o json`.
var statusJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

type handler struct {
	cfg      Config
	assets   map[string]asset
	next     http.Handler
	inFlight chan struct{} // a token per running Status call
}

// New returns a handler serving the status page's routes (see the package
// doc) and passing every other request to next (nil: 404). It panics on an
// invalid Config, a programmer's error.
func New(cfg Config, next http.Handler) http.Handler {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("statuspage: New: %v", err))
	}
	cfg = cfg.withDefaults()
	assets, err := loadAssets(cfg.Sites)
	if err != nil {
		panic(fmt.Sprintf("statuspage: New: embedded assets: %v", err)) // the binary itself is broken
	}
	if next == nil {
		next = http.NotFoundHandler()
	}
	return &handler{cfg: cfg, assets: assets, next: next, inFlight: make(chan struct{}, cfg.InFlightMax)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, isAsset := h.assets[r.URL.Path]
	if !isAsset && r.URL.Path != PathJSON {
		h.next.ServeHTTP(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, fmt.Sprintf("%s %s: only GET and HEAD", r.Method, r.URL.Path))
		return
	}
	if !isAsset {
		h.serveStatus(w, r)
		return
	}
	if r.URL.Path == PathPage {
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Frame-Options", "DENY")
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
	hdr.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, Range requests and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// serveStatus answers /status.json with a freshly computed status.
func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, ReasonBusy, fmt.Sprintf("%d status requests are already running; try again", h.cfg.InFlightMax))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.StatusTimeout)
	defer cancel()
	st, err := h.cfg.Status(ctx)
	if err == nil && st == nil {
		err = errors.New("no status")
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, ReasonStatusUnavailable, "statuspage: status: "+err.Error())
		return
	}
	body, err := statusJSON.Marshal(st)
	if err != nil {
		writeError(w, http.StatusInternalServerError, ReasonInternal, "statuspage: encoding the status: "+err.Error())
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body) // a client gone away is no error of ours
}

// errorBody is the JSON body of every error answer, shaped like the
// HTTP/JSON API's errors.
type errorBody struct {
	Error struct {
		HTTPStatus int    `json:"http_status"`
		Reason     string `json:"reason"`
		Message    string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, httpStatus int, reason, message string) {
	var b errorBody
	b.Error.HTTPStatus, b.Error.Reason, b.Error.Message = httpStatus, reason, message
	body, _ := json.Marshal(b) // strings and an int: cannot fail
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(body, '\n'))
}
