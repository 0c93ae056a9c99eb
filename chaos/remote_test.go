package chaos

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/proxy"
)

func remoteTopology(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.New(topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{
			{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond}, {A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond},
		},
		Nodes: []topology.Node{ // nothing listens there: the nodes are down
			{ID: "hz-a-1", Site: "hz-a", RaftAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:2"},
			{ID: "hz-b-1", Site: "hz-b", RaftAddr: "127.0.0.1:3", ClientAddr: "127.0.0.1:4"},
			{ID: "sh-a-1", Site: "sh-a", RaftAddr: "127.0.0.1:5", ClientAddr: "127.0.0.1:6"},
		},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: []string{"hz-a-1", "hz-b-1", "sh-a-1"}, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

var remoteRouters = map[string][]string{"hz-a": {"127.0.0.1:7"}, "hz-b": {"127.0.0.1:8"}, "sh-a": {"127.0.0.1:9"}}

// startGeneratedProxy runs the proxy of the topology on ports the kernel
// picks, and returns its config with the actual addresses.
func startGeneratedProxy(t *testing.T, topo *topology.Topology) (proxy.Config, *proxy.Proxy) {
	t.Helper()
	cfg, err := proxy.Generate(topo, proxy.GenerateOptions{BasePort: 1, Routers: remoteRouters})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Routes {
		cfg.Routes[i].ListenAddr = "127.0.0.1:0"
	}
	cfg.ControlAddr = "127.0.0.1:0"
	p, err := proxy.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg.ControlAddr = p.ControlAddr()
	for i, r := range p.Routes() {
		cfg.Routes[i].ListenAddr = r.ListenAddr
	}
	return cfg, p
}

func TestDialRemoteFindsRoutersAndDialersInTheProxyConfig(t *testing.T) {
	topo := remoteTopology(t)
	cfg, p := startGeneratedProxy(t, topo)
	target, err := DialRemote(context.Background(), RemoteConfig{Topology: topo, Proxy: cfg, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, ok := target.(Crasher); ok {
		t.Fatal("a target without pid files claims it can crash processes")
	}
	cc := target.ClientConfig("shanghai")
	if !slices.Equal(cc.Routers["hangzhou"], []string{"127.0.0.1:7", "127.0.0.1:8"}) || !slices.Equal(cc.Routers["shanghai"], []string{"127.0.0.1:9"}) {
		t.Fatalf("routers by region %v", cc.Routers)
	}
	// The shanghai clients' dialer reaches hz-a's router through the proxy:
	// the proxy accepts, then resets the conn, as nothing listens at the
	// router itself (the reset may beat the dial's return).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cc.Dialer(ctx, "127.0.0.1:7")
	if err == nil {
		conn.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial through the proxy: %v", err)
	}
	for _, r := range p.Routes() {
		if want := int64(0); r.Name == "clients-shanghai>router-hz-a-1" {
			want = 1
			for deadline := time.Now().Add(5 * time.Second); r.TotalConns != want && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				r = routeNamed(p, r.Name)
			}
			if r.TotalConns != want {
				t.Fatalf("route %s carried %d conns, want %d", r.Name, r.TotalConns, want)
			}
		} else if r.TotalConns != 0 {
			t.Fatalf("route %s carried %d conns, want none", r.Name, r.TotalConns)
		}
	}
	// Nodes that do not answer lead nothing, and Leaders does not hang.
	start := time.Now()
	if leaders := target.Leaders(ctx); len(leaders) != 0 || time.Since(start) > 3*time.Second {
		t.Fatalf("Leaders of down nodes = %v after %s", leaders, time.Since(start))
	}
	if err := target.Isolate("hz-a"); err != nil {
		t.Fatal(err)
	}
	if err := target.HealAll(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(target.Describe(), "3 routers") {
		t.Fatalf("Describe = %q", target.Describe())
	}
}

func routeNamed(p *proxy.Proxy, name string) proxy.RouteStatus {
	for _, r := range p.Routes() {
		if r.Name == name {
			return r
		}
	}
	return proxy.RouteStatus{}
}

func TestDialRemoteRejectsAProxyOfAnotherCluster(t *testing.T) {
	topo := remoteTopology(t)
	cfg, _ := startGeneratedProxy(t, topo)
	var partial proxy.Config
	partial.ControlAddr = cfg.ControlAddr
	for _, r := range cfg.Routes {
		// Drop sh-a's routes to hz-a-1, and shanghai's clients' route to hz-b's router.
		if (r.FromSite == "sh-a" && r.TargetSite == "hz-a") || (r.FromSite == "clients-shanghai" && r.TargetSite == "hz-b") {
			continue
		}
		partial.Routes = append(partial.Routes, r)
	}
	_, err := DialRemote(context.Background(), RemoteConfig{Topology: topo, Proxy: partial})
	if !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("err = %v, want ErrInvalidTarget", err)
	}
	for _, want := range []string{"no route from site sh-a to [127.0.0.1:1 127.0.0.1:2]", "no route from clients-shanghai to router 127.0.0.1:8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	noClients := proxy.Config{ControlAddr: cfg.ControlAddr}
	for _, r := range cfg.Routes {
		if !strings.HasPrefix(r.FromSite, "clients-") {
			noClients.Routes = append(noClients.Routes, r)
		}
	}
	if _, err := DialRemote(context.Background(), RemoteConfig{Topology: topo, Proxy: noClients}); !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "no client routes") {
		t.Fatalf("without client routes: %v", err)
	}
	if _, err := DialRemote(context.Background(), RemoteConfig{Topology: topo, Proxy: cfg, PidDir: t.TempDir() + "/missing"}); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("a missing pid directory: %v", err)
	}
}

func TestDialRemoteWithoutAProxyIsUnreachable(t *testing.T) {
	topo := remoteTopology(t)
	cfg, _ := startGeneratedProxy(t, topo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ControlAddr = ln.Addr().String()
	ln.Close()
	_, err = DialRemote(context.Background(), RemoteConfig{Topology: topo, Proxy: cfg, CallTimeout: time.Second})
	if err == nil || errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "cannot be reached") {
		t.Fatalf("err = %v, want an unreachable proxy", err)
	}
}
