package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
)

// env is what a scenario's fault acts on during its fault window.
type env struct {
	t    Target
	h    *history.History
	rng  *rand.Rand
	stop <-chan struct{} // closed when the fault window ends
	// window is the fault window's length (stop closes that long after
	// the fault starts).
	window time.Duration
	notes  *faultNotes // what the fault saw, for the report
}

// faultNotes are lines a fault adds to the report (how often it acted).
type faultNotes struct {
	mu    sync.Mutex
	lines []string
}

func (n *faultNotes) add(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
}

func (n *faultNotes) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lines...)
}

func (e *env) faultStart(detail, site string) {
	e.h.Event(history.Event{Kind: history.EventFaultStart, Detail: detail, Site: site})
}

func (e *env) faultEnd(detail, site string) {
	e.h.Event(history.Event{Kind: history.EventFaultEnd, Detail: detail, Site: site})
}

// hold waits for the end of the fault window, then heals every cut and
// records the end of the fault, returning the first error of inject or of
// the heal.
func (e *env) hold(detail, site string, inject error) error {
	if inject == nil {
		<-e.stop
	}
	err := errors.Join(inject, e.t.HealAll())
	e.faultEnd(detail, site)
	return err
}

// Scenario is one named fault schedule. Fault runs for the fault window:
// it injects, keeps acting until e.stop closes if it needs to, and undoes
// what it did before returning (the runner heals the network again anyway).
type Scenario struct {
	Name  string
	About string
	// Crashes: the scenario stops and restarts processes, so its target
	// must be a Crasher.
	Crashes bool
	// InProcessOnly: the scenario acts on parts only an in-process cluster
	// exposes (its simulated payout providers, its nodes' credit path), so
	// Validate refuses it on any other target.
	InProcessOnly bool
	fault         func(e *env) error
}

func regionsOf(t *topology.Topology) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range t.Sites() {
		if !seen[s.Region] {
			seen[s.Region] = true
			out = append(out, s.Region)
		}
	}
	sort.Strings(out)
	return out
}

// homeOfFirstCell is the site the scenarios fault: the home of cell 1.
func homeOfFirstCell(t *topology.Topology) string {
	cl, _ := t.Cell(1)
	return cl.Home
}

func otherSites(t *topology.Topology, site string) []string {
	var out []string
	for _, s := range t.Sites() {
		if s.ID != site {
			out = append(out, s.ID)
		}
	}
	return out
}

// cutAll cuts (or heals) site from every other site, one pair at a time.
func cutAll(n Network, topo *topology.Topology, site string, cut bool) error {
	var errs []error
	for _, o := range otherSites(topo, site) {
		if cut {
			errs = append(errs, n.Cut(site, o))
		} else {
			errs = append(errs, n.Heal(site, o))
		}
	}
	return errors.Join(errs...)
}

// Scenarios lists every scenario by name.
var Scenarios = []Scenario{
	{Name: "fiber-cut", About: "the home site of cell 1 loses every link: to the other sites and to its clients (a black hole, no resets)", fault: func(e *env) error {
		site := homeOfFirstCell(e.t.Topology())
		e.faultStart("fiber cut "+site, site)
		err := e.t.Isolate(site)
		if err == nil {
			err = e.t.CutIngress(site)
		}
		return e.hold("fiber cut "+site, site, err)
	}},
	{Name: "ingress-cut", About: "clients cannot reach the home site of cell 1; its Raft links are fine", fault: func(e *env) error {
		site := homeOfFirstCell(e.t.Topology())
		e.faultStart("ingress cut "+site, site)
		return e.hold("ingress cut "+site, site, e.t.CutIngress(site))
	}},
	{Name: "split", About: "the home site of cell 1 is split from the other two (A | B,C); clients still reach every site", fault: func(e *env) error {
		site := homeOfFirstCell(e.t.Topology())
		e.faultStart("split "+site+" | rest", site)
		return e.hold("split "+site+" | rest", site, cutAll(e.t, e.t.Topology(), site, true))
	}},
	{Name: "bridge", About: "two sites cannot reach each other; the third reaches both", fault: func(e *env) error {
		site := homeOfFirstCell(e.t.Topology())
		others := otherSites(e.t.Topology(), site)
		detail := fmt.Sprintf("bridge: %s x %s, %s reaches both", site, others[len(others)-1], others[0])
		e.faultStart(detail, site)
		return e.hold(detail, site, e.t.Cut(site, others[len(others)-1]))
	}},
	{Name: "flapping", About: "the home site of cell 1 loses and regains its links every 700 ms", fault: func(e *env) error {
		site := homeOfFirstCell(e.t.Topology())
		e.faultStart("flapping "+site, site)
		var err error
		for cut := true; err == nil; cut = !cut {
			err = cutAll(e.t, e.t.Topology(), site, cut)
			if !pause(700*time.Millisecond, e.stop) {
				break
			}
		}
		if err != nil {
			<-e.stop // keep the window's length; the heal follows
		}
		return e.hold("flapping "+site, site, nil)
	}},
	{Name: "slow-site", About: "the home site of cell 1 answers 300 ms slower on every link (a gray failure)", fault: func(e *env) error {
		topo := e.t.Topology()
		site := homeOfFirstCell(topo)
		e.faultStart("slow site "+site+" (+300ms RTT)", site)
		type delay struct{ oneWay, jitter time.Duration }
		before := map[string]delay{}
		var errs []error
		for _, o := range otherSites(topo, site) {
			oneWay, jitter, err := e.t.Delay(site, o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			before[o] = delay{oneWay, jitter}
			errs = append(errs, e.t.SetDelay(site, o, oneWay+150*time.Millisecond, jitter+10*time.Millisecond))
		}
		<-e.stop
		for o, d := range before { // back to the WAN's own delays
			errs = append(errs, e.t.SetDelay(site, o, d.oneWay, d.jitter))
		}
		e.faultEnd("slow site "+site, site)
		return errors.Join(errs...)
	}},
	{Name: "node-crash", About: "the leader node of cell 1 stops abruptly and restarts from its data", Crashes: true, fault: func(e *env) error {
		crasher := e.t.(Crasher)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		id := e.t.Leaders(ctx)[1]
		cancel()
		if id == "" {
			return fmt.Errorf("chaos: cell 1 has no leader to crash")
		}
		n, _ := e.t.Topology().Node(id)
		e.faultStart("crash "+id, n.Site)
		if err := crasher.CrashNode(id); err != nil {
			e.faultEnd("crash "+id, n.Site)
			return err
		}
		<-e.stop
		err := crasher.RestartNode(id)
		e.faultEnd("crash "+id, n.Site)
		return err
	}},
	{Name: "router-crash", About: "the router of the home site of cell 1 stops and restarts", Crashes: true, fault: func(e *env) error {
		crasher := e.t.(Crasher)
		site := homeOfFirstCell(e.t.Topology())
		e.faultStart("router crash "+site, site)
		if err := crasher.CrashRouter(site); err != nil {
			e.faultEnd("router crash "+site, site)
			return err
		}
		<-e.stop
		err := crasher.RestartRouter(site)
		e.faultEnd("router crash "+site, site)
		return err
	}},
	{Name: "leader-storm", About: "every cell's leadership moves to a random replica every 400 ms", fault: func(e *env) error {
		e.faultStart("leader transfer storm", "")
		nodes := e.t.Topology().Nodes()
		for {
			for _, cl := range e.t.Topology().Cells() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_ = e.t.MoveLeader(ctx, cl.ID, nodes[e.rng.IntN(len(nodes))].ID) // a refused move is part of the storm
				cancel()
			}
			if !pause(400*time.Millisecond, e.stop) {
				break
			}
		}
		e.faultEnd("leader transfer storm", "")
		return nil
	}},
	// What each of the next three proves is in its function's doc comment
	// (scenario_*.go, one file per fault).
	{Name: "payout-ambiguity", InProcessOnly: true, fault: payoutAmbiguity,
		About: "the payout providers time out after paying (and fail 30% of queries) while the home site of cell 1 is cut off"},
	{Name: "slow-return", fault: slowReturn,
		About: "links into the site leading cell 1 carry +300 ms one way (the way back stays fast) while every cell's leadership moves, in rounds 600 ms apart"},
	{Name: "topology-flip", InProcessOnly: true, fault: topologyFlip,
		About: "credits into cell 2 are answered WRONG_CELL, half after they applied, as by a node with another topology file"},
}

// ScenarioByName finds a scenario.
func ScenarioByName(name string) (Scenario, error) {
	var names []string
	for _, s := range Scenarios {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("chaos: unknown scenario %q; known: %v", name, names)
}
