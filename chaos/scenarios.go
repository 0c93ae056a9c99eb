package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
)

// env is what a scenario's fault acts on during its fault window.
type env struct {
	c    *cluster.Cluster
	h    *history.History
	rng  *rand.Rand
	stop <-chan struct{} // closed when the fault window ends
}

func (e *env) faultStart(detail, site string) {
	e.h.Event(history.Event{Kind: history.EventFaultStart, Detail: detail, Site: site})
}

func (e *env) faultEnd(detail, site string) {
	e.h.Event(history.Event{Kind: history.EventFaultEnd, Detail: detail, Site: site})
}

// Scenario is one named fault schedule. Fault runs for the fault window:
// it injects, keeps acting until e.stop closes if it needs to, and undoes
// what it did before returning (the runner heals the fabric again anyway).
type Scenario struct {
	Name  string
	About string
	fault func(e *env) error
}

func regions(c *cluster.Cluster) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range c.Topology.Sites() {
		if !seen[s.Region] {
			seen[s.Region] = true
			out = append(out, s.Region)
		}
	}
	sort.Strings(out)
	return out
}

func cutIngress(c *cluster.Cluster, site string) {
	for _, r := range regions(c) {
		c.Fabric.Cut(cluster.ClientSite(r), site)
	}
}

// homeOfFirstCell is the site the scenarios fault: the home of cell 1.
func homeOfFirstCell(c *cluster.Cluster) string {
	cl, _ := c.Topology.Cell(1)
	return cl.Home
}

func otherSites(c *cluster.Cluster, site string) []string {
	var out []string
	for _, s := range c.Topology.Sites() {
		if s.ID != site {
			out = append(out, s.ID)
		}
	}
	return out
}

// Scenarios lists every scenario by name.
var Scenarios = []Scenario{
	{"fiber-cut", "the home site of cell 1 loses every link: to the other sites and to its clients (a black hole, no resets)", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("fiber cut "+site, site)
		e.c.Fabric.Isolate(site)
		cutIngress(e.c, site)
		<-e.stop
		e.c.Fabric.HealAll()
		e.faultEnd("fiber cut "+site, site)
		return nil
	}},
	{"ingress-cut", "clients cannot reach the home site of cell 1; its Raft links are fine", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("ingress cut "+site, site)
		cutIngress(e.c, site)
		<-e.stop
		e.c.Fabric.HealAll()
		e.faultEnd("ingress cut "+site, site)
		return nil
	}},
	{"split", "the home site of cell 1 is split from the other two (A | B,C); clients still reach every site", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("split "+site+" | rest", site)
		for _, o := range otherSites(e.c, site) {
			e.c.Fabric.Cut(site, o)
		}
		<-e.stop
		e.c.Fabric.HealAll()
		e.faultEnd("split "+site+" | rest", site)
		return nil
	}},
	{"bridge", "two sites cannot reach each other; the third reaches both", func(e *env) error {
		site := homeOfFirstCell(e.c)
		others := otherSites(e.c, site)
		detail := fmt.Sprintf("bridge: %s x %s, %s reaches both", site, others[len(others)-1], others[0])
		e.faultStart(detail, site)
		e.c.Fabric.Cut(site, others[len(others)-1])
		<-e.stop
		e.c.Fabric.HealAll()
		e.faultEnd(detail, site)
		return nil
	}},
	{"flapping", "the home site of cell 1 loses and regains its links every 700 ms", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("flapping "+site, site)
		for cut := true; ; cut = !cut {
			for _, o := range otherSites(e.c, site) {
				if cut {
					e.c.Fabric.Cut(site, o)
				} else {
					e.c.Fabric.Heal(site, o)
				}
			}
			if !pause(700*time.Millisecond, e.stop) {
				break
			}
		}
		e.c.Fabric.HealAll()
		e.faultEnd("flapping "+site, site)
		return nil
	}},
	{"slow-site", "the home site of cell 1 answers 300 ms slower on every link (a gray failure)", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("slow site "+site+" (+300ms RTT)", site)
		for _, o := range otherSites(e.c, site) {
			e.c.Fabric.SetDelay(site, o, 150*time.Millisecond, 10*time.Millisecond)
		}
		<-e.stop
		for _, o := range otherSites(e.c, site) {
			e.c.Fabric.SetDelay(site, o, 0, 0)
		}
		e.faultEnd("slow site "+site, site)
		return nil
	}},
	{"node-crash", "the leader node of cell 1 stops abruptly and restarts from its data", func(e *env) error {
		id := e.c.Leader(1)
		if id == "" {
			return fmt.Errorf("chaos: cell 1 has no leader to crash")
		}
		n, _ := e.c.Topology.Node(id)
		e.faultStart("crash "+id, n.Site)
		if err := e.c.StopNode(id); err != nil {
			return err
		}
		<-e.stop
		err := e.c.RestartNode(id)
		e.faultEnd("crash "+id, n.Site)
		return err
	}},
	{"router-crash", "the router of the home site of cell 1 stops and restarts", func(e *env) error {
		site := homeOfFirstCell(e.c)
		e.faultStart("router crash "+site, site)
		if err := e.c.StopRouter(site); err != nil {
			return err
		}
		<-e.stop
		err := e.c.StartRouter(site)
		e.faultEnd("router crash "+site, site)
		return err
	}},
	{"leader-storm", "every cell's leadership moves to a random replica every 400 ms", func(e *env) error {
		e.faultStart("leader transfer storm", "")
		nodes := e.c.Topology.Nodes()
		for {
			for _, cl := range e.c.Topology.Cells() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_ = e.c.TransferLeadership(ctx, cl.ID, nodes[e.rng.IntN(len(nodes))].ID) // a refused move is part of the storm
				cancel()
			}
			if !pause(400*time.Millisecond, e.stop) {
				break
			}
		}
		e.faultEnd("leader transfer storm", "")
		return nil
	}},
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
