package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/chaos/check"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/report"
	"github.com/cellpay/cellpay/router/client"
	"google.golang.org/protobuf/proto"
)

// Options of one run.
type Options struct {
	Scenario string
	Seed     int64
	// Duration of the traffic; the fault window is its middle 20%–60%.
	// At least 3 s.
	Duration time.Duration
	// Dir holds the cluster's data. Required.
	Dir string
	// Workers is the number of concurrent client workers (default 8).
	Workers int
	// ErrorsMax is how many client-visible errors (unknown outcomes) the
	// availability checker tolerates (default 0).
	ErrorsMax int
	// QuietTimeout bounds the wait for the healed cluster to agree
	// (default 60 s). LinearizabilityTimeout bounds the porcupine search
	// per account (default 10 s).
	QuietTimeout, LinearizabilityTimeout time.Duration
	Logger                               *slog.Logger
	// Progress, if set, receives one line per phase.
	Progress func(string)
}

func (o *Options) defaults() error {
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.QuietTimeout == 0 {
		o.QuietTimeout = 60 * time.Second
	}
	if o.LinearizabilityTimeout == 0 {
		o.LinearizabilityTimeout = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("chaos: Options.Dir is required"))
	}
	if o.Duration < 3*time.Second {
		errs = append(errs, fmt.Errorf("chaos: Options.Duration (%s) must be at least 3s", o.Duration))
	}
	if o.Workers < 1 || o.Workers > 1000 {
		errs = append(errs, fmt.Errorf("chaos: Options.Workers (%d) must be in [1, 1000]", o.Workers))
	}
	return errors.Join(errs...)
}

// Run plays one scenario on a fresh in-process cluster and checks it.
func Run(ctx context.Context, opts Options) (report.Run, error) {
	if err := opts.defaults(); err != nil {
		return report.Run{}, err
	}
	sc, err := ScenarioByName(opts.Scenario)
	if err != nil {
		return report.Run{}, err
	}
	c, err := cluster.Start(cluster.Config{Dir: opts.Dir, Seed: opts.Seed, Logger: opts.Logger})
	if err != nil {
		return report.Run{}, err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = c.WaitLeaders(wctx)
	if err == nil {
		// Start from the steady state: every cell led from its home site.
		err = c.LeadersHome(wctx)
	}
	cancel()
	if err != nil {
		return report.Run{}, err
	}

	h := history.New()
	var clients []*client.Client
	for _, region := range regions(c) {
		cl, err := client.New(client.Config{Region: region, Routers: c.RouterAddrs(), Dialer: c.ClientDialer(region), Deadline: 15 * time.Second})
		if err != nil {
			return report.Run{}, err
		}
		defer cl.Close()
		clients = append(clients, cl)
	}
	b := newBank(c, h, clients)
	opts.Progress("setup: creating and funding accounts")
	if err := b.setup(ctx); err != nil {
		return report.Run{}, err
	}

	pollStop := make(chan struct{})
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); pollLeaders(c, h, pollStop) }()

	opts.Progress(fmt.Sprintf("traffic: %d workers for %s", opts.Workers, opts.Duration))
	h.Event(history.Event{Kind: history.EventPhase, Detail: "traffic"})
	stopTraffic := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() { defer close(trafficDone); b.run(ctx, opts.Workers, opts.Seed, stopTraffic) }()

	start := time.Now()
	faultStop := make(chan struct{})
	faultErr := make(chan error, 1)
	pause(opts.Duration/5, ctx.Done())
	opts.Progress("fault: " + sc.About)
	e := &env{c: c, h: h, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 7)), stop: faultStop}
	go func() { faultErr <- sc.fault(e) }()
	pause(opts.Duration*3/5-time.Since(start), ctx.Done())
	close(faultStop)
	ferr := <-faultErr
	c.Fabric.HealAll()
	opts.Progress("healed")
	pause(opts.Duration-time.Since(start), ctx.Done()) // a cancelled run still heals, stops and checks
	close(stopTraffic)
	<-trafficDone
	h.Event(history.Event{Kind: history.EventPhase, Detail: "quiet"})
	opts.Progress("quiet: waiting for every replica to agree")
	final, qerr := gatherFinal(ctx, c, b, opts.QuietTimeout)
	close(pollStop)
	<-pollDone

	ops := h.Ops()
	results := check.All(ops, h.Events(), final, h.Start().UnixNano(), opts.ErrorsMax, opts.LinearizabilityTimeout)
	_, seconds, failovers := check.Availability(ops, h.Events(), h.Start().UnixNano(), opts.ErrorsMax)
	run := report.Run{
		Scenario: sc.Name, Seed: opts.Seed, StartNs: h.Start().UnixNano(), EndNs: time.Now().UnixNano(),
		Results: results, Seconds: seconds, Failovers: failovers, Events: h.Events(), Ops: report.CountOps(ops),
		Notes: []string{
			fmt.Sprintf("cluster: %d sites, %d nodes, %d cells, one router per site", len(c.Topology.Sites()), len(c.Topology.Nodes()), len(c.Topology.Cells())),
			fmt.Sprintf("workload: %d workers, %d accounts, transfers/deposits/reads through router/client", opts.Workers, len(b.allAccounts())),
			"scenario: " + sc.About,
		},
	}
	if ferr != nil {
		run.Notes = append(run.Notes, "fault error: "+ferr.Error())
	}
	if qerr != nil {
		run.Notes = append(run.Notes, "quiet: "+qerr.Error())
	}
	return run, errors.Join(ferr, qerr)
}

// pollLeaders records a leader event whenever a cell's leader changes.
func pollLeaders(c *cluster.Cluster, h *history.History, stop <-chan struct{}) {
	last := map[uint64]string{}
	for {
		for _, cl := range c.Topology.Cells() {
			id := c.Leader(cl.ID)
			if id == "" || id == last[cl.ID] {
				continue
			}
			last[cl.ID] = id
			n, _ := c.Topology.Node(id)
			h.Event(history.Event{Kind: history.EventLeader, Cell: cl.ID, Site: n.Site, Detail: fmt.Sprintf("cell %d led by %s", cl.ID, id)})
		}
		if !pause(50*time.Millisecond, stop) {
			return
		}
	}
}

// gatherFinal waits until every cell has a leader and all its replicas
// report the same applied index and digest, then reads the ledger state
// from the leaders.
func gatherFinal(ctx context.Context, c *cluster.Cluster, b *bank, timeout time.Duration) (history.Final, error) {
	final := history.Final{Balances: map[string]int64{}, Transfers: map[string]history.Transfer{}, Replicas: map[uint64][]history.Replica{}}
	deadline := time.Now().Add(timeout)
	for {
		agree := true
		final.Replicas = map[uint64][]history.Replica{}
		for _, cl := range c.Topology.Cells() {
			for _, id := range cl.Replicas {
				n := c.Node(id)
				if n == nil {
					agree = false
					continue
				}
				g, err := n.Host().Group(cl.ID)
				if err != nil {
					agree = false
					continue
				}
				applied, sha, err := g.StateDigest()
				if err != nil {
					agree = false
					continue
				}
				final.Replicas[cl.ID] = append(final.Replicas[cl.ID], history.Replica{Node: id, Applied: applied, Digest: fmt.Sprintf("%x", sha)})
			}
			rs := final.Replicas[cl.ID]
			for _, r := range rs {
				if r.Applied != rs[0].Applied || r.Digest != rs[0].Digest {
					agree = false
				}
			}
			if c.Leader(cl.ID) == "" {
				agree = false
			}
		}
		if agree {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return final, fmt.Errorf("chaos: replicas did not agree within %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, cl := range c.Topology.Cells() {
		g, err := c.Node(c.Leader(cl.ID)).Host().Group(cl.ID)
		if err != nil {
			return final, err
		}
		r := g.Reader()
		tot, err := cell.ReadTotals(r)
		if err != nil {
			return final, err
		}
		for _, d := range tot.Deposited {
			final.Deposited += d
		}
		var decodeErr error
		err = r.Scan([]byte("t/"), []byte("t0"), func(k, v []byte) bool {
			var rec pb.TransferRecord
			if decodeErr = proto.Unmarshal(v, &rec); decodeErr != nil {
				return false
			}
			final.Transfers[rec.GetTransferId()] = history.Transfer{From: rec.GetFromAccountId(), To: rec.GetToAccountId(), Amount: rec.GetAmountMinor()}
			return true
		})
		if err = errors.Join(err, decodeErr); err != nil {
			return final, err
		}
	}
	for _, a := range b.allAccounts() {
		owner, _ := c.Topology.CellOfAccount(a)
		g, err := c.Node(c.Leader(owner.ID)).Host().Group(owner.ID)
		if err != nil {
			return final, err
		}
		acc, err := cell.GetAccount(g.Reader(), a)
		if err != nil {
			return final, err
		}
		final.Balances[a] = acc.GetBalanceMinor()
	}
	return final, nil
}

// WriteAll renders run as text to text, JSON to jsonOut and HTML to htmlOut (nil writers are skipped).
func WriteAll(run report.Run, text, jsonOut, htmlOut io.Writer) error {
	var errs []error
	if text != nil {
		errs = append(errs, report.WriteText(text, run))
	}
	if jsonOut != nil {
		errs = append(errs, report.WriteJSON(jsonOut, run))
	}
	if htmlOut != nil {
		var buf bytes.Buffer
		err := report.WriteHTML(&buf, run)
		if err == nil {
			_, err = htmlOut.Write(buf.Bytes())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
