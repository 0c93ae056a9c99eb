package fabric

import (
	"fmt"
	"slices"
	"testing"
)

// cuts lists the cut directions among sites, as "x->y".
func cuts(f *Fabric, sites ...string) []string {
	var out []string
	for _, x := range sites {
		for _, y := range sites {
			if f.Link(x, y).Cut {
				out = append(out, x+"->"+y)
			}
		}
	}
	return out
}

func expectCuts(t *testing.T, f *Fabric, sites []string, want ...string) {
	t.Helper()
	if got := cuts(f, sites...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cut directions = %v, want %v", got, want)
	}
}

func TestSplitCutsEveryPairAcross(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.Split([]string{"a", "b"}, []string{"c"})
	expectCuts(t, f, []string{"a", "b", "c"}, "a->c", "b->c", "c->a", "c->b")

	f.HealAll()
	f.Split([]string{"a", "b"}, []string{"b", "c"}) // b on both sides: never cut from itself.
	expectCuts(t, f, []string{"a", "b", "c"}, "a->b", "a->c", "b->a", "b->c", "c->a", "c->b")
	f.Split(nil, []string{"a"})
}

func TestBridgeLeavesOnlyTheBridge(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.Isolate("a") // Nothing registered: no effect; cut bridge links by hand.
	f.Cut("a", "bridge")
	f.Cut("c", "d")
	f.Bridge("bridge", "a", "c")
	expectCuts(t, f, []string{"a", "bridge", "c", "d"}, "a->c", "c->a", "c->d", "d->c")
}

func TestCutIngressCutsEveryClientSiteBothWays(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.Register("127.0.0.1:1", "hz-a")
	f.Register("127.0.0.1:2", "sh-a")
	f.Dialer("clients-hangzhou")
	f.Dialer("clients-shanghai")
	f.Dialer("hz-a")
	all := []string{"clients-hangzhou", "clients-shanghai", "hz-a", "sh-a"}
	if got := f.Sites(); !slices.Equal(got, all) {
		t.Fatalf("Sites() = %v, want %v", got, all)
	}

	f.CutIngress("hz-a")
	expectCuts(t, f, all, "clients-hangzhou->hz-a", "clients-shanghai->hz-a", "hz-a->clients-hangzhou", "hz-a->clients-shanghai")

	// A client pseudo-site seen later is cut from hz-a too.
	f.Dialer("clients-beijing")
	if !f.Link("clients-beijing", "hz-a").Cut || !f.Link("hz-a", "clients-beijing").Cut {
		t.Fatal("a new client site can reach a site whose ingress is cut")
	}

	f.HealIngress("hz-a")
	expectCuts(t, f, append(all, "clients-beijing"))
	f.Dialer("clients-chengdu")
	if f.Link("clients-chengdu", "hz-a").Cut {
		t.Fatal("HealIngress left the rule for new client sites")
	}

	f.CutIngress("sh-a")
	f.HealAll()
	f.Dialer("clients-xian")
	if f.Link("clients-xian", "sh-a").Cut {
		t.Fatal("HealAll left the ingress rule for new client sites")
	}
}
