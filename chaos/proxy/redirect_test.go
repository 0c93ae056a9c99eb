package proxy

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// freePort returns a 127.0.0.1 address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRedirectsMapOnlyTheRoutesOfTheSite(t *testing.T) {
	cfg := Config{Routes: []Route{
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:17000", TargetAddr: "127.0.0.1:7102", TargetSite: "hz-b"},
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:17001", TargetAddr: "LOCALHOST:07103", TargetSite: "sh-a"},
		{FromSite: "hz-b", ListenAddr: "127.0.0.1:17002", TargetAddr: "127.0.0.1:7101", TargetSite: "hz-a"},
		{FromSite: "clients-hangzhou", ListenAddr: "127.0.0.1:17003", TargetAddr: "127.0.0.1:7301", TargetSite: "hz-a"},
	}}
	r, err := cfg.RedirectsFrom("hz-a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 || r.FromSite() != "hz-a" {
		t.Fatalf("Len %d FromSite %q, want 2 hz-a", r.Len(), r.FromSite())
	}
	for _, c := range []struct {
		addr, want string
		redirected bool
	}{
		{"127.0.0.1:7102", "127.0.0.1:17000", true},
		{"localhost:7103", "127.0.0.1:17001", true}, // the spelling of host and port does not matter
		{"127.0.0.1:7101", "127.0.0.1:7101", false}, // hz-a's own node: direct
		{"127.0.0.1:7301", "127.0.0.1:7301", false}, // a client route is not the site's
		{"not an address", "not an address", false},
	} {
		got, ok := r.Lookup(c.addr)
		if got != c.want || ok != c.redirected {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.addr, got, ok, c.want, c.redirected)
		}
	}
	if missing := r.Missing([]string{"127.0.0.1:7102", "127.0.0.1:7104", "127.0.0.1:7104"}); !slices.Equal(missing, []string{"127.0.0.1:7104"}) {
		t.Fatalf("Missing = %v, want [127.0.0.1:7104]", missing)
	}
	none, err := cfg.RedirectsFrom("sh-a")
	if err != nil || none.Len() != 0 {
		t.Fatalf("sh-a: %d redirects, %v; want none", none.Len(), err)
	}
}

func TestRedirectsRejectListenAddrsNobodyCanDial(t *testing.T) {
	cfg := Config{Routes: []Route{
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:0", TargetAddr: "127.0.0.1:7102", TargetSite: "hz-b"},
		{FromSite: "hz-a", ListenAddr: "0.0.0.0:17001", TargetAddr: "127.0.0.1:7103", TargetSite: "sh-a"},
		{FromSite: "hz-a", ListenAddr: ":17002", TargetAddr: "127.0.0.1:7104", TargetSite: "sh-a"},
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:17003", TargetAddr: "127.0.0.1:7105", TargetSite: "hz-b"},
		{FromSite: "hz-a", ListenAddr: "127.0.0.1:17004", TargetAddr: "127.0.0.1:7105", TargetSite: "hz-b"},
		{FromSite: "hz-b", ListenAddr: "127.0.0.1:0", TargetAddr: "127.0.0.1:7101", TargetSite: "hz-a"}, // not hz-a's
	}}
	_, err := cfg.RedirectsFrom("hz-a")
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"routes[0].listen_addr", "port 0", "routes[1].listen_addr", "every interface", "routes[2].listen_addr", "routes[4].target_addr", "already has a route"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "routes[5]") {
		t.Errorf("error blames another site's route:\n%v", err)
	}
}

// A dial through the redirect dialer to another site's address goes through
// the proxy (its route counts the conn, and a cut black-holes it); a dial
// to an address without a route goes direct.
func TestRedirectDialerGoesThroughTheProxy(t *testing.T) {
	remote, local := startEcho(t), startEcho(t)
	listen := freePort(t)
	p := startProxy(t, Route{Name: "hz-a>sh-a", FromSite: "hz-a", ListenAddr: listen, TargetAddr: remote.addr, TargetSite: "sh-a"})
	redirects, err := p.cfg.RedirectsFrom("hz-a")
	if err != nil {
		t.Fatal(err)
	}
	dial := redirects.Dialer(nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()

	c, err := dial(ctx, remote.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "via the proxy")
	if got := c.RemoteAddr().String(); got != listen {
		t.Fatalf("conn to %s, want the proxy's %s", got, listen)
	}
	if total := p.Routes()[0].TotalConns; total != 1 {
		t.Fatalf("route counted %d conns, want 1", total)
	}

	direct, err := dial(ctx, local.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	roundTrip(t, direct, "same site, direct")
	if total := p.Routes()[0].TotalConns; total != 1 {
		t.Fatalf("a direct dial went through the proxy: %d conns", total)
	}

	p.Fabric().Cut("hz-a", "sh-a")
	if _, err := c.Write([]byte("into the hole")); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, c, 200*time.Millisecond)
	p.Fabric().HealAll()
	expectRead(t, c, "into the hole")
}
