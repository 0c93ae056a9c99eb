package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestClientDrivesTheControlAPI(t *testing.T) {
	server, other := startEcho(t), startEcho(t)
	p := startProxy(t, testRoute("r", "hz-a", "sh-a", server), testRoute("back", "sh-a", "hz-a", other), testRoute("c", "clients-hangzhou", "sh-a", server))
	c := NewClient(p.ControlAddr(), waitMax)
	defer c.Close()
	ctx := context.Background()
	fab := p.Fabric()

	if err := c.Cut(ctx, "hz-a", "sh-a"); err != nil || !fab.Link("sh-a", "hz-a").Cut {
		t.Fatalf("Cut: %v, link %+v", err, fab.Link("sh-a", "hz-a"))
	}
	if err := c.Heal(ctx, "hz-a", "sh-a"); err != nil || fab.Link("hz-a", "sh-a").Cut {
		t.Fatalf("Heal: %v", err)
	}
	if err := c.Isolate(ctx, "sh-a"); err != nil || !fab.Link("hz-a", "sh-a").Cut {
		t.Fatalf("Isolate: %v", err)
	}
	if err := c.CutIngress(ctx, "sh-a"); err != nil || !fab.Link("clients-hangzhou", "sh-a").Cut {
		t.Fatalf("CutIngress: %v", err)
	}
	if err := c.HealAll(ctx); err != nil || fab.Link("hz-a", "sh-a").Cut || fab.Link("clients-hangzhou", "sh-a").Cut {
		t.Fatalf("HealAll: %v", err)
	}
	if err := c.SetDelay(ctx, "hz-a", "sh-a", 15*time.Millisecond, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	l, err := c.Link(ctx, "sh-a", "hz-a")
	if err != nil || l.Delay != 15*time.Millisecond || l.Jitter != time.Millisecond {
		t.Fatalf("Link = %+v, %v; want the delay set both ways", l, err)
	}
	// One direction only: the way back keeps its delay.
	if err := c.SetDelayOneWay(ctx, "sh-a", "hz-a", 300*time.Millisecond, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if l := fab.Link("sh-a", "hz-a"); l.Delay != 300*time.Millisecond || l.Jitter != 10*time.Millisecond {
		t.Fatalf("sh-a -> hz-a = %+v; want the one-way delay", l)
	}
	if l := fab.Link("hz-a", "sh-a"); l.Delay != 15*time.Millisecond || l.Jitter != time.Millisecond {
		t.Fatalf("hz-a -> sh-a = %+v; want it unchanged", l)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Routes) != 3 {
		t.Fatalf("Status: %d routes, %v", len(st.Routes), err)
	}

	if err := c.Cut(ctx, "hz a", "sh-a"); !errors.Is(err, ErrRefused) {
		t.Fatalf("a bad site: %v, want ErrRefused", err)
	}
	gone := NewClient(freePort(t), time.Second)
	defer gone.Close()
	if _, err := gone.Status(ctx); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("no proxy: %v, want an unreachable error", err)
	}
}
