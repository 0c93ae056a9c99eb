package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cellpay/cellpay/chaos/fabric"
)

// requestBytesMax bounds a control request body; real ones are tens of bytes.
const requestBytesMax = 64 << 10

// newHandler routes the control API (see doc.go for every endpoint).
func (p *Proxy) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /links", p.getLinks)
	mux.HandleFunc("POST /links/{from}/{to}", p.postLink)
	mux.HandleFunc("POST /cut", p.postCut)
	mux.HandleFunc("POST /isolate", p.postIsolate)
	mux.HandleFunc("POST /heal", p.postHeal)
	mux.HandleFunc("POST /reset", p.postReset)
	mux.HandleFunc("POST /split", p.postSplit)
	mux.HandleFunc("POST /bridge", p.postBridge)
	mux.HandleFunc("POST /ingress/cut", p.postIngress(true))
	mux.HandleFunc("POST /ingress/heal", p.postIngress(false))
	mux.HandleFunc("GET /status", p.getStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorResponse{Error: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

// LinksResponse is the answer of GET /links.
type LinksResponse struct {
	Links []SiteLink `json:"links"`
}

// ChangeResponse is the answer of every POST: what was done and the links it
// touched, as they are now.
type ChangeResponse struct {
	Action string     `json:"action"`
	Links  []SiteLink `json:"links"`
}

// StatusResponse is the answer of GET /status.
type StatusResponse struct {
	Links  []SiteLink    `json:"links"`
	Routes []RouteStatus `json:"routes"`
}

// errorResponse is the answer to a bad request: what is wrong and, when one
// field is to blame, its name.
type errorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// pairRequest names two sites: POST /cut, /heal, /reset.
type pairRequest struct {
	A string `json:"a"`
	B string `json:"b"`
}

type siteRequest struct {
	Site string `json:"site"`
}

type splitRequest struct {
	A []string `json:"a"`
	B []string `json:"b"`
}

type bridgeRequest struct {
	Bridge string `json:"bridge"`
	A      string `json:"a"`
	C      string `json:"c"`
}

func (p *Proxy) getLinks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, LinksResponse{Links: p.allLinks()})
}

func (p *Proxy) getStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, StatusResponse{Links: p.allLinks(), Routes: p.Routes()})
}

// postLink changes the link of one direction: the fields in the body replace
// the link's, the others keep their values.
func (p *Proxy) postLink(w http.ResponseWriter, r *http.Request) {
	from, to := r.PathValue("from"), r.PathValue("to")
	if !checkSites(w, []string{"from", "to"}, from, to) {
		return
	}
	body, ok := readBody(w, r, false)
	if !ok {
		return
	}
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	link := p.fab.Link(from, to)
	if err := decodeStrict(body, &link); err != nil {
		writeError(w, err)
		return
	}
	p.fab.SetLink(from, to, link)
	p.changed(w, fmt.Sprintf("set link %s -> %s", from, to), [][2]string{{from, to}})
}

func (p *Proxy) postCut(w http.ResponseWriter, r *http.Request) {
	var req pairRequest
	if !decodeRequest(w, r, &req, false) || !checkSites(w, []string{"a", "b"}, req.A, req.B) {
		return
	}
	p.fab.Cut(req.A, req.B)
	p.changed(w, fmt.Sprintf("cut %s <-> %s", req.A, req.B), bothWays(req.A, req.B))
}

func (p *Proxy) postIsolate(w http.ResponseWriter, r *http.Request) {
	var req siteRequest
	if !decodeRequest(w, r, &req, false) || !checkSites(w, []string{"site"}, req.Site) {
		return
	}
	p.fab.Isolate(req.Site)
	var pairs [][2]string
	for _, other := range p.fab.Sites() {
		if other != req.Site {
			pairs = append(pairs, bothWays(req.Site, other)...)
		}
	}
	p.changed(w, "isolated "+req.Site, pairs)
}

// postHeal heals every link with an empty body or {}, else the pair a, b.
func (p *Proxy) postHeal(w http.ResponseWriter, r *http.Request) {
	var req pairRequest
	if !decodeRequest(w, r, &req, true) {
		return
	}
	if req.A == "" && req.B == "" {
		p.fab.HealAll()
		p.changed(w, "healed every link", nil)
		return
	}
	if !checkSites(w, []string{"a", "b"}, req.A, req.B) {
		return
	}
	p.fab.Heal(req.A, req.B)
	p.changed(w, fmt.Sprintf("healed %s <-> %s", req.A, req.B), bothWays(req.A, req.B))
}

func (p *Proxy) postReset(w http.ResponseWriter, r *http.Request) {
	var req pairRequest
	if !decodeRequest(w, r, &req, false) || !checkSites(w, []string{"a", "b"}, req.A, req.B) {
		return
	}
	p.fab.Reset(req.A, req.B)
	p.changed(w, fmt.Sprintf("reset the conns between %s and %s", req.A, req.B), bothWays(req.A, req.B))
}

func (p *Proxy) postSplit(w http.ResponseWriter, r *http.Request) {
	var req splitRequest
	if !decodeRequest(w, r, &req, false) {
		return
	}
	for _, side := range []struct {
		name  string
		sites []string
	}{{"a", req.A}, {"b", req.B}} {
		if len(side.sites) == 0 {
			writeError(w, &FieldError{Field: side.name, Problem: "want a non-empty list of sites"})
			return
		}
		for i, site := range side.sites {
			if !checkSites(w, []string{fmt.Sprintf("%s[%d]", side.name, i)}, site) {
				return
			}
		}
	}
	p.fab.Split(req.A, req.B)
	var pairs [][2]string
	for _, a := range req.A {
		for _, b := range req.B {
			if a != b {
				pairs = append(pairs, bothWays(a, b)...)
			}
		}
	}
	p.changed(w, fmt.Sprintf("split [%s] from [%s]", strings.Join(req.A, " "), strings.Join(req.B, " ")), pairs)
}

func (p *Proxy) postBridge(w http.ResponseWriter, r *http.Request) {
	var req bridgeRequest
	if !decodeRequest(w, r, &req, false) || !checkSites(w, []string{"bridge", "a", "c"}, req.Bridge, req.A, req.C) {
		return
	}
	p.fab.Bridge(req.Bridge, req.A, req.C)
	pairs := append(bothWays(req.A, req.C), bothWays(req.Bridge, req.A)...)
	pairs = append(pairs, bothWays(req.Bridge, req.C)...)
	p.changed(w, fmt.Sprintf("cut %s <-> %s, both reach %s", req.A, req.C, req.Bridge), pairs)
}

func (p *Proxy) postIngress(cut bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req siteRequest
		if !decodeRequest(w, r, &req, false) || !checkSites(w, []string{"site"}, req.Site) {
			return
		}
		action := "healed the ingress of " + req.Site
		if cut {
			p.fab.CutIngress(req.Site)
			action = "cut the ingress of " + req.Site
		} else {
			p.fab.HealIngress(req.Site)
		}
		var pairs [][2]string
		for _, client := range p.fab.Sites() {
			if strings.HasPrefix(client, fabric.ClientSitePrefix) && client != req.Site {
				pairs = append(pairs, bothWays(client, req.Site)...)
			}
		}
		p.changed(w, action, pairs)
	}
}

// changed answers a POST with the links of pairs as they are now; no pairs
// means every link.
func (p *Proxy) changed(w http.ResponseWriter, action string, pairs [][2]string) {
	links := make([]SiteLink, 0, len(pairs))
	for _, pair := range pairs {
		links = append(links, SiteLink{From: pair[0], To: pair[1], Link: p.fab.Link(pair[0], pair[1])})
	}
	if pairs == nil {
		links = p.allLinks()
	}
	writeJSON(w, http.StatusOK, ChangeResponse{Action: action, Links: links})
}

// allLinks is the link of every ordered pair of distinct known sites, sorted.
func (p *Proxy) allLinks() []SiteLink {
	sites := p.fab.Sites()
	links := make([]SiteLink, 0, len(sites)*len(sites))
	for _, from := range sites {
		for _, to := range sites {
			if from != to {
				links = append(links, SiteLink{From: from, To: to, Link: p.fab.Link(from, to)})
			}
		}
	}
	return links
}

func bothWays(a, b string) [][2]string {
	if a == b {
		return [][2]string{{a, b}}
	}
	return [][2]string{{a, b}, {b, a}}
}

// readBody reads the request body, bounded; it answers 400 and returns false
// when it cannot, or when the body is empty and emptyOK is false.
func readBody(w http.ResponseWriter, r *http.Request, emptyOK bool) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, requestBytesMax))
	if err != nil {
		writeError(w, &FieldError{Field: "body", Problem: fmt.Sprintf("unreadable or larger than %d bytes: %v", requestBytesMax, err)})
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) == 0 && !emptyOK {
		writeError(w, &FieldError{Field: "body", Problem: "empty; want a JSON object"})
		return nil, false
	}
	return body, true
}

// decodeRequest decodes the body strictly into req; an empty body leaves req
// zero when emptyOK.
func decodeRequest(w http.ResponseWriter, r *http.Request, req any, emptyOK bool) bool {
	body, ok := readBody(w, r, emptyOK)
	if !ok {
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return true
	}
	if err := decodeStrict(body, req); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// checkSites answers 400 naming the first field whose site name is invalid.
func checkSites(w http.ResponseWriter, fields []string, sites ...string) bool {
	for i, site := range sites {
		if err := checkSite(site); err != nil {
			writeError(w, &FieldError{Field: fields[i], Problem: err.Error()})
			return false
		}
	}
	return true
}

func writeError(w http.ResponseWriter, err error) {
	resp := errorResponse{Error: err.Error()}
	var fieldErr *FieldError
	if errors.As(err, &fieldErr) {
		resp.Field = fieldErr.Field
	}
	writeJSON(w, http.StatusBadRequest, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // The client went away: nothing to do.
}
