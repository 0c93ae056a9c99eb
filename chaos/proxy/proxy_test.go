package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellpay/cellpay/chaos/fabric"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

func TestBytesFlowThroughARoute(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	c := dialRoute(t, p, "r")
	roundTrip(t, c, "hello through the proxy")
	big := strings.Repeat("0123456789", 50_000)
	roundTrip(t, c, big)
}

func TestCutBlackHolesAndHealRestores(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	c := dialRoute(t, p, "r")
	roundTrip(t, c, "before")

	resp := mustPost(t, p, "/cut", `{"a":"hz-a","b":"sh-a"}`)
	if len(resp.Links) != 2 || !resp.Links[0].Link.Cut || !resp.Links[1].Link.Cut {
		t.Fatalf("cut answered %+v, want both directions cut", resp)
	}
	if _, err := c.Write([]byte("during")); err != nil {
		t.Fatalf("write during the cut: %v", err)
	}
	expectNothing(t, c, 300*time.Millisecond)
	if got := server.received.Load(); got != int64(len("before")) {
		t.Fatalf("server received %d bytes, want only the %d before the cut", got, len("before"))
	}

	mustPost(t, p, "/heal", "")
	expectRead(t, c, "during")
	roundTrip(t, c, "after")
}

func TestNewConnOverACutHangsUntilHeal(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	back := startEcho(t)
	// As in a real cluster, both sites listen: Isolate cuts registered sites.
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server), testRoute("back", "sh-a", "hz-a", back))
	mustPost(t, p, "/isolate", `{"site":"sh-a"}`)
	c := dialRoute(t, p, "r") // The proxy's kernel accepts; its dial hangs.
	if _, err := c.Write([]byte("knock")); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, c, 300*time.Millisecond)
	mustPost(t, p, "/heal", `{"a":"sh-a","b":"hz-a"}`)
	expectRead(t, c, "knock")
}

func TestDelayViaAPIAddsAtLeastTheDelay(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	c := dialRoute(t, p, "r")
	roundTrip(t, c, "warm")

	resp := mustPost(t, p, "/links/hz-a/sh-a", `{"delay":"100ms"}`)
	if got := resp.Links[0].Link.Delay; got != 100*time.Millisecond {
		t.Fatalf("answer shows delay %s", got)
	}
	mustPost(t, p, "/links/sh-a/hz-a", `{"delay":"50ms","loss":0}`)
	if got := p.Fabric().Link("hz-a", "sh-a"); got != (fabric.Link{Delay: 100 * time.Millisecond}) {
		t.Fatalf("fabric link = %+v", got)
	}
	for range 2 {
		start := time.Now()
		roundTrip(t, c, "ping")
		if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
			t.Fatalf("round trip took %s, want at least 150ms", elapsed)
		}
	}
}

func TestPartialLinkUpdateKeepsOtherFields(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	mustPost(t, p, "/links/hz-a/sh-a", `{"delay":"10ms","jitter":"2ms","cut":true}`)
	mustPost(t, p, "/links/hz-a/sh-a", `{"loss":0.25,"bandwidth_bytes_per_second":1000}`)
	want := fabric.Link{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Cut: true, Loss: 0.25, BandwidthBytesPerSecond: 1000}
	if got := p.Fabric().Link("hz-a", "sh-a"); got != want {
		t.Fatalf("link = %+v, want %+v", got, want)
	}
}

func TestResetViaAPIResetsTheClient(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	c := dialRoute(t, p, "r")
	roundTrip(t, c, "x")
	mustPost(t, p, "/reset", `{"a":"sh-a","b":"hz-a"}`)
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset: %v, want a connection reset", err)
	}
}

func TestHalfClosePassesThrough(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server))
	mustPost(t, p, "/links/hz-a/sh-a", `{"delay":"30ms"}`)
	c := dialRoute(t, p, "r")
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = (%q, %v), want the echo, then the end of stream", got, err)
	}
	replicationtest.Eventually(t, waitMax, func() bool { return p.Routes()[0].LiveConns == 0 }, "the route to have no live conns")
}

func TestStatusCountsConnsPerRoute(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("one", "hz-a", "sh-a", server), testRoute("two", "clients-hangzhou", "sh-a", server))
	c1 := dialRoute(t, p, "two")
	c2 := dialRoute(t, p, "two")
	roundTrip(t, c1, "a")
	roundTrip(t, c2, "b")

	var st StatusResponse
	if status, raw := call(t, p, http.MethodGet, "/status", "", &st); status != http.StatusOK {
		t.Fatalf("status: %d %s", status, raw)
	}
	if len(st.Routes) != 2 || st.Routes[0].LiveConns != 0 || st.Routes[1].LiveConns != 2 || st.Routes[1].TotalConns != 2 {
		t.Fatalf("routes = %+v, want 0 live conns on one, 2 on two", st.Routes)
	}
	if st.Routes[1].ListenAddr != listenAddr(t, p, "two") || st.Routes[1].FromSite != "clients-hangzhou" {
		t.Fatalf("route two = %+v", st.Routes[1])
	}
	// Sites: clients-hangzhou, hz-a, sh-a: 6 ordered pairs.
	if len(st.Links) != 6 {
		t.Fatalf("status lists %d links, want 6: %+v", len(st.Links), st.Links)
	}
	c1.Close()
	replicationtest.Eventually(t, waitMax, func() bool { return p.Routes()[1].LiveConns == 1 }, "route two to count one live conn")
}

func TestGetLinksAndIngress(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p := startProxy(t, testRoute("n", "sh-a", "hz-a", server), testRoute("c", "clients-hangzhou", "hz-a", server))
	mustPost(t, p, "/ingress/cut", `{"site":"hz-a"}`)
	var links LinksResponse
	call(t, p, http.MethodGet, "/links", "", &links)
	var cut []string
	for _, l := range links.Links {
		if l.Link.Cut {
			cut = append(cut, l.From+">"+l.To)
		}
	}
	if want := "[clients-hangzhou>hz-a hz-a>clients-hangzhou]"; fmt.Sprint(cut) != want {
		t.Fatalf("cut links = %v, want %s", cut, want)
	}
	mustPost(t, p, "/ingress/heal", `{"site":"hz-a"}`)
	mustPost(t, p, "/split", `{"a":["hz-a"],"b":["sh-a","clients-hangzhou"]}`)
	if !p.Fabric().Link("sh-a", "hz-a").Cut || !p.Fabric().Link("hz-a", "clients-hangzhou").Cut {
		t.Fatal("split did not cut")
	}
	mustPost(t, p, "/bridge", `{"bridge":"clients-hangzhou","a":"hz-a","c":"sh-a"}`)
	if !p.Fabric().Link("sh-a", "hz-a").Cut || p.Fabric().Link("hz-a", "clients-hangzhou").Cut {
		t.Fatal("bridge has the wrong shape")
	}
}

func TestInitialLinksFromConfig(t *testing.T) {
	t.Parallel()
	server := startEcho(t)
	p, err := Start(Config{
		Routes:      []Route{testRoute("r", "hz-a", "sh-a", server)},
		ControlAddr: "127.0.0.1:0",
		Links:       []SiteLink{{From: "hz-a", To: "sh-a", Link: fabric.Link{Delay: time.Millisecond}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Fabric().Link("hz-a", "sh-a").Delay; got != time.Millisecond {
		t.Fatalf("initial delay = %s", got)
	}
}

func TestStartFailureNamesTheRoute(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Start(Config{ControlAddr: "127.0.0.1:0", Routes: []Route{
		{Name: "ok", FromSite: "a", ListenAddr: "127.0.0.1:0", TargetAddr: "127.0.0.1:1", TargetSite: "b"},
		{Name: "busy", FromSite: "a", ListenAddr: busy.Addr().String(), TargetAddr: "127.0.0.1:2", TargetSite: "b"},
	}})
	if err == nil || !strings.Contains(err.Error(), "routes[1].listen_addr") {
		t.Fatalf("err = %v, want it to name routes[1].listen_addr", err)
	}
	_, err = Start(Config{ControlAddr: busy.Addr().String(), Routes: []Route{
		{FromSite: "a", ListenAddr: "127.0.0.1:0", TargetAddr: "127.0.0.1:1", TargetSite: "b"},
	}})
	if err == nil || !strings.Contains(err.Error(), "control_addr") {
		t.Fatalf("err = %v, want it to name control_addr", err)
	}
}

func TestUnreachableTargetResetsTheClient(t *testing.T) {
	t.Parallel()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	p := startProxy(t, Route{Name: "r", FromSite: "a", ListenAddr: "127.0.0.1:0", TargetAddr: deadAddr, TargetSite: "b"})
	c, err := net.DialTimeout("tcp", listenAddr(t, p, "r"), waitMax)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return // The proxy's reset beat the end of the handshake.
		}
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from a route whose target is down: %v, want a reset, as a refused connect", err)
	}
}

// TestCloseStopsEverything is not parallel: it counts the goroutines of the
// whole process.
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	server := startEcho(t)
	other := startEcho(t)
	p, err := Start(Config{ControlAddr: "127.0.0.1:0", Routes: []Route{
		testRoute("open", "hz-a", "sh-a", server), testRoute("cut", "hz-a", "bj-a", other),
	}})
	if err != nil {
		t.Fatal(err)
	}
	open := dialRoute(t, p, "open")
	roundTrip(t, open, "x")
	mustPost(t, p, "/cut", `{"a":"hz-a","b":"bj-a"}`)
	hanging := dialRoute(t, p, "cut") // Its dial hangs in the proxy.
	replicationtest.Eventually(t, waitMax, func() bool { return p.Routes()[1].LiveConns == 1 }, "the hanging conn to be accepted")
	controlAddr := p.ControlAddr()

	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for name, c := range map[string]net.Conn{"open": open, "hanging": hanging} {
		if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("%s conn after Close: read err = %v, want it ended", name, err)
		}
	}
	if _, err := net.DialTimeout("tcp", controlAddr, time.Second); err == nil {
		t.Fatal("the control API still accepts after Close")
	}
	open.Close()
	hanging.Close()
	server.close()
	other.close()
	for start := time.Now(); runtime.NumGoroutine() > before; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > waitMax {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}
