package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
)

var testSites = []Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}}

// sampleStatus is a cluster after a failover of hz-a: cell 1 acts in hz-b.
func sampleStatus() *pb.ClusterStatus {
	return &pb.ClusterStatus{
		RouterId: "router-hz-b", RouterSite: "hz-b", GeneratedAtUnixMs: 1_700_000_000_000,
		Sites: []*pb.SiteHealth{
			{ObserverId: "router-hz-b", ObserverSite: "hz-b", TargetSite: "hz-a", Reachable: false, ProbedAtUnixMs: 1_699_999_999_900},
			{ObserverId: "router-hz-b", ObserverSite: "hz-b", TargetSite: "hz-b", Reachable: true, RttUs: 300, ProbedAtUnixMs: 1_699_999_999_900},
			{ObserverId: "router-hz-b", ObserverSite: "hz-b", TargetSite: "sh-a", Reachable: true, RttUs: 30_500, ProbedAtUnixMs: 1_699_999_999_900},
		},
		Members: []*pb.MemberStatus{{Id: "hz-a-1", Kind: "node", Site: "hz-a", State: "dead"}, {Id: "hz-b-1", Kind: "node", Site: "hz-b", State: "alive"}},
		Cells: []*pb.CellStatus{
			{CellId: 1, HomeSite: "hz-a", ActingSite: "hz-b", LeaderNodeId: "hz-b-1", Term: 4, RequestsOk: 120, RequestsFailed: 2,
				Replicas: []*pb.ReplicaState{{NodeId: "hz-a-1", Site: "hz-a"}, {NodeId: "hz-b-1", Site: "hz-b", Reachable: true, Leader: true, AppliedIndex: 90}, {NodeId: "sh-a-1", Site: "sh-a", Reachable: true, AppliedIndex: 88, Lag: 2}}},
			{CellId: 2, HomeSite: "hz-b", ActingSite: "hz-b", LeaderNodeId: "hz-b-1", Term: 2, UnresolvedPayouts: 1, OldestUnresolvedPayoutUnixMs: 1_699_999_000_000},
		},
		SiteStates: []*pb.SiteRecord{{Site: "hz-a", State: pb.SiteState_SITE_DOWN, SinceUnixMs: 1_699_999_990_000, Reason: "unreachable from 2 sites"}},
		Events: []*pb.MetaEvent{
			{Seq: 7, AtUnixMs: 1_699_999_990_000, Kind: "site_state", Site: "hz-a", State: pb.SiteState_SITE_DOWN, Reason: "unreachable from 2 sites"},
			{Seq: 8, AtUnixMs: 1_699_999_991_000, Kind: "leader_moved", CellId: 1, Site: "hz-b", FromNode: "sh-a-1", ToNode: "hz-b-1", Reason: "failover", DurationMs: 120},
			{Seq: 9, AtUnixMs: 1_699_999_992_000, Kind: "first_write", CellId: 1, ToNode: "hz-b-1", DurationMs: 2300},
		},
	}
}

func newTestHandler(t *testing.T, cfg Config, next http.Handler) http.Handler {
	t.Helper()
	if cfg.Status == nil {
		cfg.Status = func(context.Context) (*pb.ClusterStatus, error) { return sampleStatus(), nil }
	}
	if cfg.Sites == nil {
		cfg.Sites = testSites
	}
	return New(cfg, next)
}

func do(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestStatusJSONIsTheClusterStatus(t *testing.T) {
	var deadline time.Duration
	h := newTestHandler(t, Config{StatusTimeout: 1500 * time.Millisecond, Status: func(ctx context.Context) (*pb.ClusterStatus, error) {
		d, ok := ctx.Deadline()
		if !ok {
			t.Error("Status got a context without a deadline")
		}
		deadline = time.Until(d)
		return sampleStatus(), nil
	}}, nil)
	rec := do(t, h, http.MethodGet, PathJSON, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", PathJSON, rec.Code, rec.Body)
	}
	if deadline <= 0 || deadline > 1500*time.Millisecond {
		t.Errorf("Status deadline %s from now, want within StatusTimeout 1.5s", deadline)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var got pb.ClusterStatus
	if err := protojson.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("not protojson: %v\n%s", err, rec.Body)
	}
	if !proto.Equal(&got, sampleStatus()) {
		t.Errorf("round trip differs:\n got %v\nwant %v", &got, sampleStatus())
	}
	// The form of `cellpay status -o json`: proto names, every field, 64-bit
	// integers as strings, enums by name.
	body := rec.Body.String()
	for _, want := range []string{`"router_id":"router-hz-b"`, `"cell_id":"1"`, `"acting_site":"hz-b"`, `"state":"SITE_DOWN"`, `"unresolved_payouts":0`, `"drill_id":""`} {
		if !strings.Contains(body, want) {
			t.Errorf("status.json lacks %s", want)
		}
	}
}

func TestStatusJSONErrors(t *testing.T) {
	t.Run("status fails", func(t *testing.T) {
		h := newTestHandler(t, Config{Status: func(context.Context) (*pb.ClusterStatus, error) { return nil, errors.New("meta group silent") }}, nil)
		rec := do(t, h, http.MethodGet, PathJSON, nil)
		assertError(t, rec, http.StatusServiceUnavailable, ReasonStatusUnavailable, "meta group silent")
	})
	t.Run("no status", func(t *testing.T) {
		h := newTestHandler(t, Config{Status: func(context.Context) (*pb.ClusterStatus, error) { return nil, nil }}, nil)
		assertError(t, do(t, h, http.MethodGet, PathJSON, nil), http.StatusServiceUnavailable, ReasonStatusUnavailable, "no status")
	})
	t.Run("busy", func(t *testing.T) {
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		h := newTestHandler(t, Config{InFlightMax: 1, Status: func(ctx context.Context) (*pb.ClusterStatus, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return sampleStatus(), nil
		}}, nil)
		first := make(chan int, 1)
		go func() { first <- do(t, h, http.MethodGet, PathJSON, nil).Code }()
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the first request never called Status")
		}
		rec := do(t, h, http.MethodGet, PathJSON, nil)
		assertError(t, rec, http.StatusServiceUnavailable, ReasonBusy, "already running")
		if rec.Header().Get("Retry-After") == "" {
			t.Error("busy answer without Retry-After")
		}
		close(release)
		if code := <-first; code != http.StatusOK {
			t.Errorf("first request: %d", code)
		}
		// The slot is free again.
		go func() { <-entered }()
		if code := do(t, h, http.MethodGet, PathJSON, nil).Code; code != http.StatusOK {
			t.Errorf("after the first finished: %d", code)
		}
	})
}

func assertError(t *testing.T, rec *httptest.ResponseRecorder, code int, reason, message string) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d: %s", rec.Code, code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body not JSON: %v: %s", err, rec.Body)
	}
	if b.Error.HTTPStatus != code || b.Error.Reason != reason || !strings.Contains(b.Error.Message, message) {
		t.Errorf("error %+v, want %d %s containing %q", b.Error, code, reason, message)
	}
}

func TestMethodsOtherThanGETAndHEADAre405(t *testing.T) {
	var calls atomic.Int32
	h := newTestHandler(t, Config{Status: func(context.Context) (*pb.ClusterStatus, error) { calls.Add(1); return sampleStatus(), nil }}, nil)
	for _, path := range []string{PathPage, PathJSON, PathCSS, PathJS} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			rec := do(t, h, m, path, nil)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, path, rec.Code)
				continue
			}
			if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, path, allow)
			}
			assertError(t, rec, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, m)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("Status called %d times by refused requests", n)
	}
	for _, path := range []string{PathPage, PathJSON, PathCSS, PathJS} {
		rec := do(t, h, http.MethodHead, path, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d body bytes", path, rec.Code, rec.Body.Len())
		}
	}
}

func TestOtherPathsGoToNext(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "api "+r.Method+" "+r.URL.Path)
	})
	h := newTestHandler(t, Config{}, next)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/transfers"}, {http.MethodGet, "/v1/accounts/alice"}, {http.MethodGet, "/"},
		{http.MethodGet, "/status/"}, {http.MethodGet, "/status/assets/other.js"}, {http.MethodPost, "/statusx"},
	} {
		rec := do(t, h, c.method, c.path, nil)
		if rec.Code != http.StatusTeapot || rec.Body.String() != "api "+c.method+" "+c.path {
			t.Errorf("%s %s: %d %q, want it passed to the API", c.method, c.path, rec.Code, rec.Body)
		}
	}
	if rec := do(t, newTestHandler(t, Config{}, nil), http.MethodGet, "/v1/x", nil); rec.Code != http.StatusNotFound {
		t.Errorf("nil next: %d, want 404", rec.Code)
	}
}

func TestPageAndAssets(t *testing.T) {
	h := newTestHandler(t, Config{}, nil)
	page := do(t, h, http.MethodGet, PathPage, nil)
	if page.Code != http.StatusOK {
		t.Fatalf("GET /status: %d", page.Code)
	}
	if ct := page.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("page Content-Type %q", ct)
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if page.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	html := page.Body.String()
	// Every URL the page refers to is the router's own (relative) or data:.
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 3 {
		t.Fatalf("page refers to %d URLs: %s", len(refs), html)
	}
	for _, m := range refs {
		if u := m[1]; strings.Contains(u, "//") || strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "/status") {
			t.Errorf("page refers to %q, not a relative URL of the router", u)
		}
	}
	for _, c := range []struct{ path, ref, contentType, file string }{
		{PathCSS, "status/assets/status.css?v=", "text/css; charset=utf-8", "status.css"},
		{PathJS, "status/assets/status.js?v=", "text/javascript; charset=utf-8", "status.js"},
	} {
		if !strings.Contains(html, c.ref) {
			t.Errorf("page does not refer to %s", c.ref)
		}
		rec := do(t, h, http.MethodGet, c.path+"?v=whatever", nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != c.contentType {
			t.Errorf("GET %s: %d %q", c.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		want, err := assetFS.ReadFile(assetsDir + c.file)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Body.String() != string(want) {
			t.Errorf("GET %s is not the embedded %s", c.path, c.file)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", c.path)
			continue
		}
		if again := do(t, h, http.MethodGet, c.path, http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %d, want 304", c.path, again.Code)
		}
	}
	js, _ := assetFS.ReadFile(assetsDir + "status.js")
	css, _ := assetFS.ReadFile(assetsDir + "status.css")
	// Data reaches the page as text only; nothing is loaded from elsewhere.
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("status.js uses %s", bad)
		}
	}
	if n := strings.Count(string(js), "fetch("); n != 1 || !strings.Contains(string(js), "fetch('status.json'") {
		t.Errorf("status.js fetches %d times, want once, status.json", n)
	}
	for _, bad := range []string{"url(", "@import"} {
		if strings.Contains(string(css), bad) {
			t.Errorf("status.css uses %s", bad)
		}
	}
	for _, want := range []string{`id="site-map"`, `id="cells"`, `id="events"`, `id="tiles"`, "legend"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// The sites reach the script as JSON inside the page; a hostile name stays
// data and cannot close the script element.
func TestPageEmbedsSitesAsJSON(t *testing.T) {
	sites := []Site{{ID: "hz-a", Region: "hangzhou"}, {ID: `</script><script>alert(1)</script>`, Region: `"&<>'`}}
	h := New(Config{Status: func(context.Context) (*pb.ClusterStatus, error) { return sampleStatus(), nil }, Sites: sites}, nil)
	html := do(t, h, http.MethodGet, PathPage, nil).Body.String()
	if strings.Contains(html, "<script>alert") {
		t.Fatalf("a site name closed the script element:\n%s", html)
	}
	m := regexp.MustCompile(`(?s)<script id="cellpay-sites" type="application/json">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no sites script in:\n%s", html)
	}
	var got []Site
	if err := json.Unmarshal([]byte(m[1]), &got); err != nil {
		t.Fatalf("sites are not JSON: %v: %s", err, m[1])
	}
	if len(got) != 2 || got[1] != sites[1] || got[0] != sites[0] {
		t.Errorf("sites %+v, want %+v", got, sites)
	}
	empty := New(Config{Status: func(context.Context) (*pb.ClusterStatus, error) { return nil, nil }}, nil)
	if html := do(t, empty, http.MethodGet, PathPage, nil).Body.String(); !strings.Contains(html, `type="application/json">[]</script>`) {
		t.Errorf("no sites should be [], got:\n%s", html)
	}
}

func TestSitesOf(t *testing.T) {
	topo, err := topology.Load("../../deploy/topologies/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := SitesOf(topo)
	if len(got) != 3 || got[0] != testSites[0] || got[1] != testSites[1] || got[2] != testSites[2] {
		t.Errorf("SitesOf(demo) = %+v, want %+v", got, testSites)
	}
}

func TestConfigValidate(t *testing.T) {
	if got := (Config{}).withDefaults(); got.StatusTimeout != DefaultStatusTimeout || got.InFlightMax != DefaultInFlightMax {
		t.Errorf("defaults %+v", got)
	}
	err := Config{StatusTimeout: time.Hour, InFlightMax: 1000, Sites: []Site{{ID: "a"}, {ID: "a"}, {}}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Status is required", "StatusTimeout (1h0m0s)", "InFlightMax (1000)", `Sites[1].ID "a" appears twice`, "Sites[2].ID is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	ok := Config{Status: func(context.Context) (*pb.ClusterStatus, error) { return nil, nil }, Sites: testSites}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted an invalid Config")
		}
	}()
	New(Config{}, nil)
}
