package proxy

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
)

func testTopology(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.New(topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{
			{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond}, {A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond},
		},
		Nodes: []topology.Node{
			{ID: "hz-a-1", Site: "hz-a", RaftAddr: "127.0.1.1:7100", ClientAddr: "127.0.1.1:7200"},
			{ID: "hz-b-1", Site: "hz-b", RaftAddr: "127.0.2.1:7100", ClientAddr: "127.0.2.1:7200"},
			{ID: "sh-a-1", Site: "sh-a", RaftAddr: "127.0.3.1:7100", ClientAddr: "127.0.3.1:7200"},
		},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

var testRouters = map[string][]string{"hz-a": {"127.0.1.100:7300"}, "hz-b": {"127.0.2.100:7300"}, "sh-a": {"127.0.3.100:7300"}}

func TestGenerateRoutesEveryCrossSiteAddress(t *testing.T) {
	topo := testTopology(t)
	cfg, err := Generate(topo, GenerateOptions{BasePort: 17000, Routers: testRouters, EmulateRTT: true})
	if err != nil {
		t.Fatal(err)
	}
	// Per site: 2 other nodes x 2 addresses + 2 other routers; per region
	// (2): every router (3).
	if len(cfg.Routes) != 3*(4+2)+2*3 {
		t.Fatalf("%d routes, want 24", len(cfg.Routes))
	}
	for i, r := range cfg.Routes {
		if want := "127.0.0.1:" + strconv.Itoa(17000+i); r.ListenAddr != want {
			t.Fatalf("routes[%d].listen_addr = %s, want %s", i, r.ListenAddr, want)
		}
	}
	if r := cfg.Routes[0]; r.Name != "hz-a>hz-b-1.raft" || r.TargetAddr != "127.0.2.1:7100" || r.TargetSite != "hz-b" {
		t.Fatalf("first route %+v", r)
	}
	if r := cfg.Routes[len(cfg.Routes)-1]; r.Name != "clients-shanghai>router-sh-a-1" || r.FromSite != "clients-shanghai" {
		t.Fatalf("last route %+v", r)
	}
	// Every site's processes find a route to every node outside it.
	for _, s := range topo.Sites() {
		red, err := cfg.RedirectsFrom(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var outside []string
		for _, n := range topo.Nodes() {
			if n.Site != s.ID {
				outside = append(outside, n.RaftAddr, n.ClientAddr)
			}
		}
		if missing := red.Missing(outside); len(missing) > 0 {
			t.Fatalf("site %s has no route to %v", s.ID, missing)
		}
		if _, direct := red.Lookup(testRouters[s.ID][0]); direct {
			t.Fatalf("site %s is redirected to its own router", s.ID)
		}
	}
	ingress, err := cfg.RedirectsFrom(ClientSite("hangzhou"))
	if err != nil || ingress.Len() != 3 {
		t.Fatalf("clients-hangzhou: %d routes, %v; want one per router", ingress.Len(), err)
	}
	if len(cfg.Links) != 6 {
		t.Fatalf("%d links, want both directions of 3 pairs", len(cfg.Links))
	}
	for _, l := range cfg.Links {
		want := topo.RTT(l.From, l.To) / 2
		if l.Link.Delay != want || l.Link.Jitter != want/10 {
			t.Fatalf("link %s>%s = %+v, want delay %s", l.From, l.To, l.Link, want)
		}
	}
	// The same inputs give the same config.
	again, _ := Generate(topo, GenerateOptions{BasePort: 17000, Routers: testRouters, EmulateRTT: true})
	for i := range cfg.Routes {
		if cfg.Routes[i] != again.Routes[i] {
			t.Fatalf("routes[%d] differs between two runs", i)
		}
	}
}

func TestGenerateReportsEveryBadOption(t *testing.T) {
	topo := testTopology(t)
	_, err := Generate(topo, GenerateOptions{BasePort: 17000, ListenHost: "0.0.0.0",
		Routers: map[string][]string{"hz-x": {"127.0.0.1:1"}, "hz-a": {"127.0.0.1:0"}}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"ListenHost", `site "hz-x" is not in the topology`, "Routers[hz-a]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, base := range []int{0, 65530} {
		if _, err := Generate(topo, GenerateOptions{BasePort: base, Routers: testRouters}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "BasePort") {
			t.Errorf("base port %d: err = %v, want a BasePort error", base, err)
		}
	}
}
