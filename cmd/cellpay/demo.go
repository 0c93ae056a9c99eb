package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/chaos"
	"github.com/cellpay/cellpay/chaos/demo"
)

// newDemoCmd: cellpay demo [--scenario NAME] [--seed N] [--duration D] [--interactive] ...
func newDemoCmd() *cobra.Command {
	cfg := demo.DefaultConfig()
	var (
		keep, interactive, verbose bool
		outDir                     string
	)
	cmd := &cobra.Command{
		Use:   "demo [--scenario NAME] [--duration D] [--interactive]",
		Short: "Run a whole three-site cluster in this process: traffic, a fiber cut, failover, failback, reconciliation",
		Long: `Start a whole cellpay cluster in this process: three sites (hz-a and hz-b in
region hangzhou, sh-a in region shanghai), --nodes-per-site nodes each, a router
per site, --cells cells homed round-robin and replicated to every site, with
emulated round trips (2ms inside a region, 30ms across): real Raft, Pebble, gRPC
and gossip, no setup.

Then tell a story, in under two minutes with the defaults: steady traffic from
clients in both regions; the fiber to hz-a is cut at 20% of --duration and its
cells fail over to hz-b; at 55% the fiber is repaired and the cells fail back
after --hold-down (6s here, shortened from the controller's 10s); then the chaos
checkers (money conserved, no acknowledged write lost, replicas agree,
linearizable reads, availability), one payout per cell through the simulated
banks, and a reconciliation of every cell. --scenario plays another chaos
scenario instead of the fiber cut.

The terminal shows one status line per phase (rewritten in place on a
terminal): time, phase, throughput, client-visible errors so far, cells led
per site. The logs go to demo.log unless --verbose. At the end: a summary
(payments, errors, RTO per cell, failback, money conserved, the checks, the
reconciliation) and report.html (with the timeline chart), report.json,
report.txt, reconcile.txt and reconcile.json in --out (default a new
directory under the system's temp directory). The cluster's data is removed
at exit unless --keep.

With --interactive, start the cluster and keep it up until Ctrl-C instead:
print every router's gRPC and HTTP address, a topology file and an operator
token, and commands to try against them (cellpay status, curl, cellpay drill,
cellpay reconcile), with --workers workers of traffic (0: none).

Exit codes: 0 every check passed and the reconciliation is all clear (or
--interactive stopped by Ctrl-C); 5 a check failed or could not decide;
2 bad flags (every problem is named); 1 the cluster could not run.`,
		Example: `  cellpay demo
  cellpay demo --scenario split --seed 7
  cellpay demo --duration 20s --cells 6 --nodes-per-site 1
  cellpay demo --interactive`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDemoFlags(cmd, cfg, interactive); err != nil {
				return usageError(cmd, err)
			}
			dir := outDir
			if dir == "" {
				var err error
				if dir, err = os.MkdirTemp("", "cellpay-demo-"); err != nil {
					return err
				}
			}
			cfg.ReportDir, cfg.DataDir = dir, filepath.Join(dir, "data")
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(cfg.DataDir)
			}
			out := cmd.OutOrStdout()
			cfg.Out, cfg.Live = out, isTerminal(out) && os.Getenv("TERM") != "dumb"
			if verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			} else {
				cfg.LogPath = filepath.Join(dir, "demo.log")
				f, err := os.Create(cfg.LogPath)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.Logger = slog.New(slog.NewTextHandler(f, nil))
			}
			defer func() {
				if keep {
					fmt.Fprintf(out, "data      %s (kept)\n", cfg.DataDir)
				}
			}()
			if interactive {
				if !cmd.Flags().Changed("workers") {
					cfg.Workers = interactiveWorkers
				}
				if cfg.Token == "" {
					token, err := newToken()
					if err != nil {
						return err
					}
					cfg.Token = token
				}
				cfg.StatusInterval = interactiveStatusInterval
				return demo.Interactive(cmd.Context(), cfg)
			}
			res, err := demo.Story(cmd.Context(), cfg)
			if err != nil {
				if cmd.Context().Err() != nil {
					return errors.New("demo: interrupted; everything it started is stopped")
				}
				return err
			}
			if !res.Pass {
				return &exitError{code: exitChecksFailed, err: fmt.Errorf("demo: checks failed (%s)", res.Files[0])}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "the chaos scenario of the story: "+scenarioNames())
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed of the workload and the faults")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, fmt.Sprintf("traffic of the story (%s to %s); faults from 20%% to 55%% of it", demo.DurationMin, demo.DurationMax))
	f.IntVar(&cfg.Cells, "cells", cfg.Cells, fmt.Sprintf("cells, homed round-robin over the three sites (1 to %d)", demo.CellsMax))
	f.IntVar(&cfg.NodesPerSite, "nodes-per-site", cfg.NodesPerSite, fmt.Sprintf("nodes in each site (1 to %d)", demo.NodesPerSiteMax))
	f.DurationVar(&cfg.HoldDown, "hold-down", cfg.HoldDown, "how long a repaired site stays healthy before its cells fail back (the controller's default is 10s)")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, fmt.Sprintf("concurrent client workers, 1 to %d (with --interactive: 0, no traffic, to %d; default %d)", demo.WorkersMax, demo.WorkersMax, interactiveWorkers))
	f.BoolVar(&keep, "keep", false, "keep the cluster's data directory (DIR/data)")
	f.StringVar(&outDir, "out", "", "directory for the reports, the log and the data (default: a new one under the temp directory)")
	f.BoolVar(&interactive, "interactive", false, "keep the cluster up until Ctrl-C and print how to reach it, instead of the story")
	f.BoolVar(&verbose, "verbose", false, "write the cluster's logs to stderr instead of DIR/demo.log")
	return cmd
}

// In interactive mode the traffic is light and the plain status lines
// rare: it may run for hours.
const (
	interactiveWorkers        = 2
	interactiveStatusInterval = 30 * time.Second
)

// checkDemoFlags names every bad flag at once.
func checkDemoFlags(cmd *cobra.Command, cfg demo.Config, interactive bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if interactive {
		for _, name := range []string{"scenario", "duration"} {
			if cmd.Flags().Changed(name) {
				bad("--%s is for the story; --interactive runs no scenario", name)
			}
		}
		if cfg.Workers < 0 || cfg.Workers > demo.WorkersMax {
			bad("--workers %d: want 0 (no traffic) to %d", cfg.Workers, demo.WorkersMax)
		}
	} else {
		if _, err := chaos.ScenarioByName(cfg.Scenario); err != nil {
			bad("--scenario %q is not a scenario; known: %s", cfg.Scenario, scenarioNames())
		}
		if cfg.Duration < demo.DurationMin || cfg.Duration > demo.DurationMax {
			bad("--duration %s: want %s to %s", cfg.Duration, demo.DurationMin, demo.DurationMax)
		}
		if cfg.Workers < 1 || cfg.Workers > demo.WorkersMax {
			bad("--workers %d: want 1 to %d", cfg.Workers, demo.WorkersMax)
		}
	}
	if cfg.Cells < 1 || cfg.Cells > demo.CellsMax {
		bad("--cells %d: want 1 to %d", cfg.Cells, demo.CellsMax)
	}
	if cfg.NodesPerSite < 1 || cfg.NodesPerSite > demo.NodesPerSiteMax {
		bad("--nodes-per-site %d: want 1 to %d", cfg.NodesPerSite, demo.NodesPerSiteMax)
	}
	if cfg.HoldDown < 0 || cfg.HoldDown > demo.HoldDownMax {
		bad("--hold-down %s: want 0s to %s", cfg.HoldDown, demo.HoldDownMax)
	}
	return errors.Join(errs...)
}

// newToken is a random operator token.
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
