package fabric

import (
	"testing"
	"time"
)

func TestLinkSettersKeepWhatTheyDoNotSet(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)

	if got := f.Link("a", "b"); got != (Link{}) {
		t.Fatalf("unset link = %+v, want the zero Link", got)
	}
	f.SetLink("a", "b", Link{Delay: 10 * time.Millisecond, Jitter: time.Millisecond})
	if got := f.Link("b", "a"); got != (Link{}) {
		t.Fatalf("SetLink(a, b) changed b->a to %+v", got)
	}

	f.Cut("a", "b")
	want := Link{Delay: 10 * time.Millisecond, Jitter: time.Millisecond, Cut: true}
	if got := f.Link("a", "b"); got != want {
		t.Fatalf("after Cut a->b = %+v, want %+v", got, want)
	}
	if got := f.Link("b", "a"); got != (Link{Cut: true}) {
		t.Fatalf("after Cut b->a = %+v, want only Cut", got)
	}

	f.SetDelay("a", "b", 20*time.Millisecond, 0)
	want = Link{Delay: 20 * time.Millisecond, Cut: true}
	if got := f.Link("b", "a"); got != want {
		t.Fatalf("SetDelay must keep Cut: b->a = %+v, want %+v", got, want)
	}

	f.Heal("b", "a")
	want = Link{Delay: 20 * time.Millisecond}
	if got := f.Link("a", "b"); got != want {
		t.Fatalf("Heal must keep delays: a->b = %+v, want %+v", got, want)
	}

	f.Cut("a", "c")
	f.Cut("c", "c")
	f.HealAll()
	for _, pair := range [][2]string{{"a", "c"}, {"c", "a"}, {"c", "c"}} {
		if got := f.Link(pair[0], pair[1]); got.Cut {
			t.Fatalf("after HealAll %s->%s is still cut", pair[0], pair[1])
		}
	}
	if got := f.Link("a", "b"); got != want {
		t.Fatalf("HealAll must keep delays: a->b = %+v, want %+v", got, want)
	}
}

func TestNegativeDurationsCountAsZero(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.SetLink("a", "b", Link{Delay: -time.Second, Jitter: -time.Second, Cut: true})
	if got := f.Link("a", "b"); got != (Link{Cut: true}) {
		t.Fatalf("a->b = %+v, want only Cut", got)
	}
	f.SetDelay("a", "b", -time.Second, -time.Second)
	if got := f.Link("b", "a"); got != (Link{}) {
		t.Fatalf("b->a = %+v, want the zero Link", got)
	}
}

func TestIsolateCutsOneSiteFromEveryOther(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.Register("127.0.0.1:1", "a")
	f.Register("127.0.0.1:2", "b")
	f.Register("127.0.0.1:3", "c")
	f.Register("127.0.0.1:4", "c")
	f.SetDelay("a", "b", 5*time.Millisecond, 0)

	f.Isolate("a")

	for _, other := range []string{"b", "c"} {
		if !f.Link("a", other).Cut || !f.Link(other, "a").Cut {
			t.Fatalf("a and %s not cut both ways: %+v %+v", other, f.Link("a", other), f.Link(other, "a"))
		}
	}
	if f.Link("b", "c").Cut || f.Link("c", "b").Cut {
		t.Fatal("Isolate(a) cut b from c")
	}
	if f.Link("a", "a").Cut {
		t.Fatal("Isolate(a) cut a from itself")
	}
	if got := f.Link("b", "a").Delay; got != 5*time.Millisecond {
		t.Fatalf("Isolate must keep delays: b->a delay = %s", got)
	}
}
