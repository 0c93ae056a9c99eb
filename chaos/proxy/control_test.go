package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/chaos/fabric"
)

func TestBadRequestsAre400NamingTheField(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	tests := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"POST", "/cut", `{"a":"hz-a"}`, 400, "b"},
		{"POST", "/cut", `{"a":"","b":"x"}`, 400, "a"},
		{"POST", "/cut", `{"a":"hz a","b":"x"}`, 400, "a"},
		{"POST", "/cut", `{"a":1,"b":"x"}`, 400, "a"},
		{"POST", "/cut", `{"a":"x","b":"y","c":"z"}`, 400, "c"},
		{"POST", "/cut", ``, 400, "body"},
		{"POST", "/cut", `{"a":`, 400, "body"},
		{"POST", "/cut", `{"a":"x","b":"y"} trailing`, 400, "body"},
		{"POST", "/cut", `[]`, 400, "body"},
		{"POST", "/isolate", `{}`, 400, "site"},
		{"POST", "/isolate", `{"site":"` + strings.Repeat("s", 300) + `"}`, 400, "site"},
		{"POST", "/heal", `{"a":"x"}`, 400, "b"},
		{"POST", "/reset", `{"b":"x"}`, 400, "a"},
		{"POST", "/links/hz-a/sh-a", `{"delay":"soon"}`, 400, "delay"},
		{"POST", "/links/hz-a/sh-a", `{"delay":-5}`, 400, "delay"},
		{"POST", "/links/hz-a/sh-a", `{"loss":1.5}`, 400, "loss"},
		{"POST", "/links/hz-a/sh-a", `{"bandwidth_bytes_per_second":-1}`, 400, "bandwidth_bytes_per_second"},
		{"POST", "/links/hz-a/sh-a", `{"probability":1.5}`, 400, "probability"},
		{"POST", "/links/hz-a/sh-a", `{"probability":-0.5}`, 400, "probability"},
		{"POST", "/links/hz-a/sh-a", `{"probability":"half"}`, 400, "probability"},
		{"POST", "/links/hz-a/sh-a", `{"latency":"1ms"}`, 400, "latency"},
		{"POST", "/links/hz-a/sh-a", ``, 400, "body"},
		{"POST", "/links/%20/sh-a", `{}`, 400, "from"},
		{"POST", "/split", `{"a":["x"]}`, 400, "b"},
		{"POST", "/split", `{"a":["x",""],"b":["y"]}`, 400, "a[1]"},
		{"POST", "/bridge", `{"a":"x","c":"y"}`, 400, "bridge"},
		{"POST", "/ingress/cut", `{"site":7}`, 400, "site"},
		{"POST", "/nowhere", `{}`, 404, ""},
		{"GET", "/links/hz-a", ``, 404, ""},
	}
	for _, tt := range tests {
		var resp errorResponse
		status, raw := call(t, p, tt.method, tt.path, tt.body, &resp)
		if status != tt.status || resp.Field != tt.field || resp.Error == "" {
			t.Errorf("%s %s %s: %d %s; want %d naming field %q", tt.method, tt.path, tt.body, status, raw, tt.status, tt.field)
		}
	}
	if got := p.Fabric().Link("hz-a", "sh-a"); got.Delay != 0 || got.Cut || got.Probability != 0 {
		t.Errorf("bad requests changed the link: %+v", got)
	}
}

func TestPartialLinkUpdateKeepsProbability(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	mustPost(t, p, "/links/hz-a/sh-a", `{"cut":true,"probability":0.3}`)
	resp := mustPost(t, p, "/links/hz-a/sh-a", `{"delay":"10ms"}`)
	want := fabric.Link{Delay: 10 * time.Millisecond, Cut: true, Probability: 0.3}
	if got := p.Fabric().Link("hz-a", "sh-a"); got != want {
		t.Fatalf("after a partial update without probability: link = %+v, want %+v", got, want)
	}
	if len(resp.Links) != 1 || resp.Links[0].Link != want {
		t.Fatalf("answer = %+v, want the link %+v", resp.Links, want)
	}
	mustPost(t, p, "/links/hz-a/sh-a", `{"probability":0}`)
	want.Probability = 0
	if got := p.Fabric().Link("hz-a", "sh-a"); got != want {
		t.Fatalf("after setting probability 0 alone: link = %+v, want %+v", got, want)
	}
	var links LinksResponse
	if status, raw := call(t, p, "GET", "/links", ``, &links); status != 200 || !strings.Contains(raw, `"probability": 0`) {
		t.Fatalf("GET /links: %d %s, want every link to show its probability", status, raw)
	}
}

// FuzzControlAPI: no request makes the handler panic or answer anything but
// JSON with 200, 400, 404 or the mux's 405.
func FuzzControlAPI(f *testing.F) {
	for _, seed := range []struct{ method, path, body string }{
		{"POST", "/cut", `{"a":"x","b":"y"}`},
		{"POST", "/links/a/b", `{"delay":"1ms","loss":0.5}`},
		{"POST", "/links/a/b", `{"cut":true,"probability":0.5}`},
		{"POST", "/links/a/b", `{"delay":"9999999999h"}`},
		{"POST", "/heal", ``},
		{"POST", "/split", `{"a":["a"],"b":["a"]}`},
		{"POST", "/bridge", `{"bridge":"a","a":"a","c":"a"}`},
		{"GET", "/status", ``},
		{"DELETE", "/links", ``},
		{"POST", "/ingress/cut", `{"site":"clients-x"}`},
		{"POST", "/isolate", "{\"site\":\"\\u0000\"}"},
	} {
		f.Add(seed.method, seed.path, seed.body)
	}
	ln := startFuzzProxy(f)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://proxy"+path, strings.NewReader(body))
		if err != nil {
			return // Not a request an HTTP client could send.
		}
		w := httptest.NewRecorder()
		ln.handler.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", method, path, body, w.Code, w.Body.String())
			}
		case http.StatusMethodNotAllowed, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
		default:
			t.Fatalf("%s %s %q: status %d %q", method, path, body, w.Code, w.Body.String())
		}
	})
}

func startFuzzProxy(f *testing.F) *Proxy {
	p, err := Start(Config{ControlAddr: "127.0.0.1:0", Routes: []Route{
		{Name: "r", FromSite: "a", ListenAddr: "127.0.0.1:0", TargetAddr: "127.0.0.1:1", TargetSite: "b"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	return p
}
