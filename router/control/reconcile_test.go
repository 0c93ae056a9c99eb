package control

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
)

// The digest wait between two asks honours its context: a cancelled
// reconciliation stops waiting at once.
func TestSleepCtxHonoursItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if sleepCtx(ctx, time.Hour) {
		t.Fatal("sleepCtx reported the full wait on a cancelled context")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("sleepCtx took %s on a cancelled context", took)
	}
	if !sleepCtx(context.Background(), time.Millisecond) {
		t.Fatal("sleepCtx did not report a wait that passed")
	}
}

// NewReconciler defaults its clock to time.Now and keeps the one given.
func TestReconcilerClock(t *testing.T) {
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: fenceNodes, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	}
	for i, id := range fenceNodes {
		spec.Nodes = append(spec.Nodes, topology.Node{ID: id, Site: id[:len("hz-a")], RaftAddr: fmt.Sprintf("127.0.0.1:%d", 10001+i), ClientAddr: fmt.Sprintf("127.0.0.1:%d", 20001+i)})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReconciler(ReconcilerConfig{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.cfg.Now == nil {
		t.Fatal("ReconcilerConfig.Now not defaulted")
	}
	fixed := time.UnixMilli(1_900_000_000_000)
	r2, err := NewReconciler(ReconcilerConfig{Topology: topo, Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := r2.cfg.Now(); !got.Equal(fixed) {
		t.Fatalf("the Reconciler's clock says %s, want the one given (%s)", got, fixed)
	}
}
