package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/report"
)

// sites are the demo's datacenters: two in one region, one in another.
var sites = []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}}

// Bounds of the story's waits after the traffic.
const (
	// failbackWaitMax: after the traffic, how long (beyond the hold-down)
	// the story waits for cells still away to come home.
	failbackWaitMax = 30 * time.Second
	// reconcileTimeout bounds one reconciliation; reconcileAttemptsMax
	// the attempts when one cannot finish (not when it finds problems).
	reconcileTimeout     = time.Minute
	reconcileAttemptsMax = 3
	// stuckAfter: transfers and payouts unsettled this long are findings.
	stuckAfter = time.Minute
)

// Result of a story.
type Result struct {
	// Pass: every check passed (the reconciliation is one) and the run
	// finished cleanly.
	Pass      bool
	Run       report.Run
	Reconcile reconcile.Report
	// Files are the reports written, report.html first.
	Files []string
}

// Story plays the demo's story (see the package doc) and prints its status
// lines and summary to cfg.Out. An error means the story could not be
// told (the cluster did not start, the context ended, a report could not
// be written); failed checks are a Result without Pass.
func Story(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	if err := cfg.Validate(true); err != nil {
		return Result{}, err
	}
	start := time.Now()
	sc, _ := chaos.ScenarioByName(cfg.Scenario)
	writeBanner(cfg.Out, cfg, sc)
	st := newStatus(cfg.Out, cfg.Live, cfg.StatusInterval, start)
	defer st.close()

	st.enter("start", fmt.Sprintf("%d nodes, %d routers", len(sites)*cfg.NodesPerSite, len(sites)), false)
	c, err := startCluster(cfg, nil)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if err := c.Close(); err != nil {
			cfg.Logger.Warn("demo: closing the cluster", "error", err)
		}
	}()
	st.setCluster(c)
	watch := watchHome(c)
	var h *history.History
	opts := chaos.Options{
		Scenario: cfg.Scenario, Seed: cfg.Seed, Duration: cfg.Duration,
		FaultStart: chaos.Percent(faultStartPercent), FaultEnd: chaos.Percent(faultEndPercent),
		Target: chaos.InProcess(c), RunTag: "demo", Workers: cfg.Workers, Logger: cfg.Logger,
		Progress: st.progress(ctx, sc.Name),
		Observe:  func(x *history.History) { h = x; st.observe(x) },
	}
	run, runErr := chaos.Run(ctx, opts)
	if run.Scenario == "" || ctx.Err() != nil {
		watch.close()
		return Result{Run: run}, errors.Join(runErr, ctx.Err())
	}
	if awayCells(c) > 0 {
		st.enter("failback", "cells coming home", false)
		waitHome(ctx, c, cfg.HoldDown+failbackWaitMax)
	}
	homeAt, _ := watch.close()
	awayAtEnd := awayCells(c)

	st.enter("payouts", "1 payout per cell", false)
	payouts := makePayouts(ctx, c)
	st.enter("reconcile", "all cells + banks", false)
	rep, recErr := reconcileAll(ctx, c.Reconcile, start)
	metaEv, metaErr := metaEvents(ctx, c)
	st.close()
	if ctx.Err() != nil {
		return Result{Run: run}, ctx.Err()
	}

	s := summary{
		ops: tallyOps(h.Ops(), c.Topology), payouts: payouts,
		homeAt: homeAt, awayAtEnd: awayAtEnd, holdDown: cfg.HoldDown,
		recon: rep, reconErr: recErr, logPath: cfg.LogPath,
	}
	s.fault, s.hasFault = firstFault(run.Events)
	if s.hasFault {
		s.rtos = clientRTOs(h.Ops(), run.Events, s.fault, c.Topology)
		s.ctlRTOs, s.ctlErr = controllerRTOs(metaEv, s.fault), metaErr
	}
	run.Results = append(run.Results, reconcileResult(rep, recErr, payouts))
	run.Notes = append(run.Notes, s.notes(cfg)...)
	if runErr != nil {
		run.Notes = append(run.Notes, "run error: "+runErr.Error())
	}
	s.run = run
	s.pass = run.Pass() && runErr == nil
	files, err := writeReports(cfg.ReportDir, run, rep)
	if err != nil {
		return Result{Run: run, Reconcile: rep}, err
	}
	s.files = files
	s.elapsed = time.Since(start)
	if err := s.write(cfg.Out); err != nil {
		return Result{Run: run, Reconcile: rep}, err
	}
	return Result{Pass: s.pass, Run: run, Reconcile: rep, Files: files}, nil
}

// reconcileAll reconciles every cell, retrying a reconciliation that could
// not finish.
func reconcileAll(ctx context.Context, reconcileFn func(context.Context, time.Time, time.Duration) (reconcile.Report, error), since time.Time) (reconcile.Report, error) {
	var rep reconcile.Report
	var err error
	for attempt := 0; attempt < reconcileAttemptsMax && ctx.Err() == nil; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
		rep, err = reconcileFn(rctx, since, stuckAfter)
		cancel()
		if err == nil {
			return rep, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return rep, err
}

// notes are the demo's lines for the report: the cluster, the RTO, the
// failback, the payouts.
func (s summary) notes(cfg Config) []string {
	out := []string{fmt.Sprintf("demo: %s; failback hold-down %s (shortened for the demo)", clusterLine(cfg), cfg.HoldDown)}
	rtoNote := func(what string, rtos []cellRTO) {
		if len(rtos) == 0 {
			return
		}
		var parts []string
		for _, r := range rtos {
			parts = append(parts, fmt.Sprintf("cell %d %.2fs", r.cell, r.seconds))
		}
		out = append(out, what+strings.Join(parts, ", "))
	}
	rtoNote("RTO per cell, clients' view (from the fault to the cell's first acknowledged write): ", s.rtos)
	rtoNote("RTO per cell, controller's view (from the fault to its first_write event): ", s.ctlRTOs)
	if s.ctlErr != nil {
		out = append(out, "the controller's events could not be read: "+s.ctlErr.Error())
	}
	if s.hasFault && s.fault.repairNs != 0 && !s.homeAt.IsZero() && s.awayAtEnd == 0 {
		out = append(out, fmt.Sprintf("failback: every cell home again %.1fs after the repair", float64(s.homeAt.UnixNano()-s.fault.repairNs)/1e9))
	}
	out = append(out, fmt.Sprintf("payouts after the traffic: %d made (%s), reconciled against the simulated banks' statements", s.payouts.made, states(s.payouts.states)))
	return out
}

func states(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range []string{"succeeded", "pending", "unknown", "failed"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// writeReports writes the chaos report (HTML, JSON, text) and the
// reconciliation (text, JSON) to dir and returns their paths.
func writeReports(dir string, run report.Run, rep reconcile.Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var files []string
	write := func(name string, render func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		err = errors.Join(render(f), f.Close())
		if err != nil {
			return fmt.Errorf("demo: write %s: %w", path, err)
		}
		files = append(files, path)
		return nil
	}
	err := errors.Join(
		write("report.html", func(w io.Writer) error { return report.WriteHTML(w, run) }),
		write("report.json", func(w io.Writer) error { return report.WriteJSON(w, run) }),
		write("report.txt", func(w io.Writer) error { return report.WriteText(w, run) }),
		write("reconcile.txt", rep.WriteText),
		write("reconcile.json", func(w io.Writer) error { return writeJSON(w, rep) }),
	)
	return files, err
}

// clusterLine describes the cluster in one line.
func clusterLine(cfg Config) string {
	return fmt.Sprintf("%d sites, %d nodes (%d per site), %d cells, RTT 2ms inside a region and 30ms across (emulated)",
		len(sites), len(sites)*cfg.NodesPerSite, cfg.NodesPerSite, cfg.Cells)
}

// writeBanner says what is about to happen.
func writeBanner(w io.Writer, cfg Config, sc chaos.Scenario) {
	at := func(p float64) string {
		return chaos.Percent(p).At(cfg.Duration).Round(100 * time.Millisecond).String()
	}
	faulted := sites[0].ID // the home of cell 1, which every scenario faults
	fmt.Fprintf(w, "cellpay demo: a whole payment cluster in this process\n")
	fmt.Fprintf(w, "  sites    %s, %s (region %s) · %s (region %s)\n", sites[0].ID, sites[1].ID, sites[0].Region, sites[2].ID, sites[2].Region)
	fmt.Fprintf(w, "           round trips 2ms inside a region, 30ms across (emulated)\n")
	fmt.Fprintf(w, "  cluster  %d nodes (%d per site), a router per site, %d cells homed round-robin,\n", len(sites)*cfg.NodesPerSite, cfg.NodesPerSite, cfg.Cells)
	fmt.Fprintf(w, "           each replicated to all three sites: real Raft, Pebble, gRPC, gossip\n")
	fmt.Fprintf(w, "  story    %s (seed %d): %s of traffic from clients in both regions;\n", sc.Name, cfg.Seed, cfg.Duration)
	if sc.Name == "fiber-cut" {
		fmt.Fprintf(w, "           at %s the fiber to %s is cut (its links to the other sites and\n", at(faultStartPercent), faulted)
		fmt.Fprintf(w, "           to its clients) and its cells fail over to %s; at %s the fiber\n", sites[1].ID, at(faultEndPercent))
		fmt.Fprintf(w, "           is repaired and the cells fail back after a %s hold-down\n", cfg.HoldDown)
	} else {
		fmt.Fprintf(w, "           at %s: %s;\n", at(faultStartPercent), sc.About)
		fmt.Fprintf(w, "           at %s the fault is healed and the cells fail back after a %s hold-down\n", at(faultEndPercent), cfg.HoldDown)
	}
	fmt.Fprintf(w, "           (shortened for the demo; the default is 10s); then the checkers,\n")
	fmt.Fprintf(w, "           a payout per cell and a reconciliation of every cell\n")
	if cfg.LogPath != "" {
		fmt.Fprintf(w, "  log      %s\n", cfg.LogPath)
	}
	fmt.Fprintf(w, "\n")
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
