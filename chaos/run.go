package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cellpay/cellpay/chaos/check"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/report"
	"github.com/cellpay/cellpay/router/client"
)

// Options of one run. Zero fields take their defaults; Validate reports
// every violation at once.
type Options struct {
	Scenario string
	Seed     int64
	// Duration of the traffic. At least 3 s.
	Duration time.Duration
	// FaultStart and FaultEnd bound the fault window, as offsets into the
	// traffic: a percentage of Duration (Percent) or a time after its start
	// (After). Defaults 20% and 60%. FaultStart must come before FaultEnd,
	// and FaultEnd no later than Duration.
	FaultStart, FaultEnd Offset
	// Target is the cluster to play on (DialRemote). Nil: a fresh
	// in-process cluster in Dir, which Run starts and stops. A given Target
	// stays the caller's to Close.
	Target Target
	// Dir holds the in-process cluster's data. Required without Target.
	Dir string
	// RunTag prefixes the workload's account ids and idempotency keys, so
	// runs on the same long-lived cluster never share an account or a key:
	// [a-z0-9-], at most 24 bytes. Default: none in process, a tag from the
	// clock with a Target.
	RunTag string
	// Workers is the number of concurrent client workers (default 8).
	Workers int
	// ErrorsMax is how many client-visible errors (unknown outcomes) the
	// availability checker tolerates (default 0).
	ErrorsMax int
	// QuietTimeout bounds the wait for the healed cluster to agree
	// (default 60 s). LinearizabilityTimeout bounds the porcupine search
	// per account (default 10 s). LeadersTimeout bounds the wait, before
	// traffic, for every cell to lead from its home site (default 60 s).
	QuietTimeout, LinearizabilityTimeout, LeadersTimeout time.Duration
	Logger                                               *slog.Logger
	// Progress, if set, receives one line per phase.
	Progress func(string)
	// Observe, if set, is given the run's history once, as soon as it
	// starts recording (before the accounts are set up), for a live view
	// (the demo's status line). The caller only reads it.
	Observe func(*history.History)
}

// runTagBytesMax keeps account ids ("acct-TAG-CELL-N") within the ledger's
// 64 bytes.
const runTagBytesMax = 24

func (o *Options) applyDefaults() {
	if o.Workers == 0 {
		o.Workers = 8
	}
	if !o.FaultStart.IsSet() {
		o.FaultStart = Percent(DefaultFaultStartPercent)
	}
	if !o.FaultEnd.IsSet() {
		o.FaultEnd = Percent(DefaultFaultEndPercent)
	}
	if o.QuietTimeout == 0 {
		o.QuietTimeout = 60 * time.Second
	}
	if o.LinearizabilityTimeout == 0 {
		o.LinearizabilityTimeout = 10 * time.Second
	}
	if o.LeadersTimeout == 0 {
		o.LeadersTimeout = 60 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Target != nil && o.RunTag == "" {
		o.RunTag = strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
}

// Validate reports every violation of o at once, with the values involved;
// zero fields count as their defaults.
func (o Options) Validate() error {
	o.applyDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("chaos: "+format, args...)) }
	sc, err := ScenarioByName(o.Scenario)
	if err != nil {
		errs = append(errs, err)
	}
	if o.Target == nil && o.Dir == "" {
		bad("Options.Dir is required without a Target")
	}
	if err == nil && sc.Crashes && o.Target != nil {
		if _, ok := o.Target.(Crasher); !ok {
			bad("scenario %s stops and restarts processes, which this target cannot do; give it the processes' pid files (RemoteConfig.PidDir, --pids)", sc.Name)
		}
	}
	if err == nil && sc.InProcessOnly && o.Target != nil {
		if _, ok := o.Target.(inProcessFaults); !ok {
			bad("scenario %s acts on the simulated payout providers and the nodes' credit path, which only an in-process cluster exposes; run it without --target", sc.Name)
		}
	}
	if o.Duration < 3*time.Second {
		bad("Options.Duration (%s) must be at least 3s", o.Duration)
	}
	startErr, endErr := o.FaultStart.check("FaultStart"), o.FaultEnd.check("FaultEnd")
	errs = append(errs, startErr, endErr)
	if startErr == nil && endErr == nil {
		w := o.window()
		if w.start >= w.end {
			bad("Options.FaultStart (%s) must come before Options.FaultEnd (%s)", o.FaultStart.describe(o.Duration), o.FaultEnd.describe(o.Duration))
		}
		if w.end > o.Duration {
			bad("Options.FaultEnd (%s) must be at most Options.Duration (%s)", o.FaultEnd.describe(o.Duration), o.Duration)
		}
	}
	if o.Workers < 1 || o.Workers > 1000 {
		bad("Options.Workers (%d) must be in [1, 1000]", o.Workers)
	}
	if o.ErrorsMax < 0 {
		bad("Options.ErrorsMax (%d) must not be negative", o.ErrorsMax)
	}
	for name, d := range map[string]time.Duration{"QuietTimeout": o.QuietTimeout, "LinearizabilityTimeout": o.LinearizabilityTimeout, "LeadersTimeout": o.LeadersTimeout} {
		if d < 0 {
			bad("Options.%s (%s) must not be negative", name, d)
		}
	}
	if len(o.RunTag) > runTagBytesMax || strings.Trim(o.RunTag, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		bad("Options.RunTag (%q) must be at most %d bytes of [a-z0-9-]", o.RunTag, runTagBytesMax)
	}
	return errors.Join(errs...)
}

// window resolves the fault window against the duration.
func (o Options) window() window {
	return window{start: o.FaultStart.At(o.Duration), end: o.FaultEnd.At(o.Duration)}
}

// Heal retries: a heal that fails leaves the network cut, so it is tried
// again before the run gives up and says so.
const (
	healAttemptsMax = 5
	healRetryPause  = 200 * time.Millisecond
)

// Run plays one scenario on opts.Target (or a fresh in-process cluster)
// and checks it.
func Run(ctx context.Context, opts Options) (report.Run, error) {
	opts.applyDefaults()
	if err := opts.Validate(); err != nil {
		return report.Run{}, err
	}
	sc, _ := ScenarioByName(opts.Scenario)
	t := opts.Target
	if t == nil {
		var err error
		if t, err = startInProcess(opts.Dir, opts.Seed, opts.Logger, opts.Duration+opts.QuietTimeout); err != nil {
			return report.Run{}, err
		}
		defer t.Close()
	}
	topo := t.Topology()
	opts.Progress("setup: waiting for every cell to lead from its home site")
	wctx, cancel := context.WithTimeout(ctx, opts.LeadersTimeout)
	err := waitLeaders(wctx, t)
	if err == nil {
		// Start from the steady state: every cell led from its home site.
		err = leadersHome(wctx, t)
	}
	cancel()
	if err != nil {
		return report.Run{}, err
	}

	h := history.New()
	if opts.Observe != nil {
		opts.Observe(h)
	}
	var clients []*client.Client
	for _, region := range regionsOf(topo) {
		cfg := t.ClientConfig(region)
		cfg.Deadline = 15 * time.Second
		cl, err := client.New(cfg)
		if err != nil {
			return report.Run{}, err
		}
		defer cl.Close()
		clients = append(clients, cl)
	}
	b, err := newBank(topo, h, clients, opts.RunTag)
	if err != nil {
		return report.Run{}, err
	}
	payouts, _ := t.(PayoutTarget)
	if payouts != nil {
		b.providers = payouts.PayoutProviders()
	}
	opts.Progress("setup: creating and funding accounts")
	if err := b.setup(ctx); err != nil {
		return report.Run{}, err
	}

	pollStop := make(chan struct{})
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); pollLeaders(t, h, pollStop) }()

	w := opts.window()
	opts.Progress(fmt.Sprintf("traffic: %d workers for %s, %s", opts.Workers, opts.Duration, w))
	h.Event(history.Event{Kind: history.EventPhase, Detail: "traffic"})
	stopTraffic := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() { defer close(trafficDone); b.run(ctx, opts.Workers, opts.Seed, stopTraffic) }()

	start := time.Now()
	faultStop := make(chan struct{})
	faultErr := make(chan error, 1)
	pause(w.start, ctx.Done())
	opts.Progress("fault: " + sc.About)
	e := &env{t: t, h: h, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 7)), stop: faultStop, window: w.end - w.start, notes: &faultNotes{}}
	go func() { faultErr <- sc.fault(e) }()
	pause(w.end-time.Since(start), ctx.Done())
	close(faultStop)
	ferr := <-faultErr
	herr := heal(t)
	if herr == nil {
		opts.Progress("healed")
	} else {
		opts.Progress("heal failed: " + herr.Error())
	}
	pause(opts.Duration-time.Since(start), ctx.Done()) // a cancelled run still heals, stops and checks
	close(stopTraffic)
	<-trafficDone
	h.Event(history.Event{Kind: history.EventPhase, Detail: "quiet"})
	opts.Progress("quiet: waiting for every replica to agree")
	final, qerr := gatherFinal(ctx, t, b.allAccounts(), opts.QuietTimeout)
	close(pollStop)
	<-pollDone
	if payouts != nil {
		// After the ledgers: every payout is settled by now (unless the
		// quiet phase timed out, which the run reports), so no provider is
		// called between the two reads.
		var perr error
		if final.Providers, perr = payouts.ReadProviders(ctx, sortedIDs(final.Payouts)); perr != nil {
			final.Providers = nil // the payouts checker says it could not compare
			qerr = errors.Join(qerr, fmt.Errorf("chaos: reading the payout providers: %w", perr))
		}
	}

	ops := h.Ops()
	results := check.All(ops, h.Events(), final, h.Start().UnixNano(), opts.ErrorsMax, opts.LinearizabilityTimeout)
	_, seconds, failovers := check.Availability(ops, h.Events(), h.Start().UnixNano(), opts.ErrorsMax)
	run := report.Run{
		Scenario: sc.Name, Seed: opts.Seed, StartNs: h.Start().UnixNano(), EndNs: time.Now().UnixNano(),
		Results: results, Seconds: seconds, Failovers: failovers, Events: h.Events(), Ops: report.CountOps(ops),
		Notes: []string{
			"target: " + t.Describe(),
			fmt.Sprintf("workload: %d workers, %d accounts, %s through router/client", opts.Workers, len(b.allAccounts()), b.describe()),
			fmt.Sprintf("schedule: %s of %s of traffic (fault start %s, end %s)", w, opts.Duration, opts.FaultStart, opts.FaultEnd),
			"scenario: " + sc.About,
		},
	}
	if opts.RunTag != "" {
		run.Notes = append(run.Notes, "run tag: "+opts.RunTag+" (in every account id and key of this run)")
	}
	for _, note := range e.notes.list() {
		run.Notes = append(run.Notes, "fault: "+note)
	}
	if ferr != nil {
		run.Notes = append(run.Notes, "fault error: "+ferr.Error())
	}
	if herr != nil {
		run.Notes = append(run.Notes, "HEAL FAILED, the network may still be cut: "+herr.Error())
	}
	if qerr != nil {
		run.Notes = append(run.Notes, "quiet: "+qerr.Error())
	}
	return run, errors.Join(ferr, herr, qerr)
}

// heal heals every cut of t, retrying a failed heal.
func heal(t Target) error {
	var err error
	for attempt := 0; attempt < healAttemptsMax; attempt++ {
		if err = t.HealAll(); err == nil {
			return nil
		}
		time.Sleep(healRetryPause)
	}
	return fmt.Errorf("chaos: heal failed %d times: %w", healAttemptsMax, err)
}

// pollLeaders records a leader event whenever a cell's leader changes.
func pollLeaders(t Target, h *history.History, stop <-chan struct{}) {
	topo := t.Topology()
	last := map[uint64]string{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		leaders := t.Leaders(ctx)
		cancel()
		for _, cl := range topo.Cells() {
			id := leaders[cl.ID]
			if id == "" || id == last[cl.ID] {
				continue
			}
			last[cl.ID] = id
			n, _ := topo.Node(id)
			h.Event(history.Event{Kind: history.EventLeader, Cell: cl.ID, Site: n.Site, Detail: fmt.Sprintf("cell %d led by %s", cl.ID, id)})
		}
		if !pause(leaderPollInterval, stop) {
			return
		}
	}
}

// gatherFinal waits until every cell has a leader, all its replicas report
// the same applied index and digest, no cross-cell transfer is in flight
// and no payout is PENDING or UNKNOWN, then returns the ledger state read
// from the leaders. Past timeout it returns what it read, with an error
// (the checkers then list what was left unsettled).
func gatherFinal(ctx context.Context, t Target, accounts []string, timeout time.Duration) (history.Final, error) {
	deadline := time.Now().Add(timeout)
	for {
		final, err := agreedFinal(ctx, t, accounts, deadline)
		unsettled := final.UnsettledPayouts()
		if err != nil || (final.InFlight == 0 && unsettled == 0) {
			return final, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return final, fmt.Errorf("chaos: after %s, %d cross-cell transfers still in flight and %d payouts unsettled", timeout, final.InFlight, unsettled)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sortedIDs lists the keys of m in order.
func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// agreedFinal waits until the replicas agree and reads the ledger.
func agreedFinal(ctx context.Context, t Target, accounts []string, deadline time.Time) (history.Final, error) {
	final := history.Final{Balances: map[string]int64{}, Transfers: map[string]history.Transfer{}, Replicas: map[uint64][]history.Replica{}}
	for {
		final.Replicas = t.Replicas(ctx)
		leaders := t.Leaders(ctx)
		agree := true
		for _, cl := range t.Topology().Cells() {
			rs := final.Replicas[cl.ID]
			if len(rs) != len(cl.Replicas) || leaders[cl.ID] == "" {
				agree = false
			}
			for _, r := range rs {
				if r.Applied != rs[0].Applied || r.Digest != rs[0].Digest {
					agree = false
				}
			}
		}
		if agree {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return final, errors.New("chaos: replicas did not agree before the quiet timeout")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ledger, err := t.ReadLedger(ctx, accounts)
	ledger.Replicas = final.Replicas
	return ledger, err
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
