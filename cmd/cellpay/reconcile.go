package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/control"
)

// exitFindings: a reconciliation found problems.
const exitFindings = 10

// newReconcileCmd: cellpay reconcile --config FILE [--cell N] [--since T]
func newReconcileCmd() *cobra.Command {
	var (
		configPath, since, tokenFile string
		cells                        []uint
		providerSpecs                []string
		stuckAfter, timeout          time.Duration
		format                       outputFormat
		secOpts                      securityFlags
	)
	cmd := &cobra.Command{
		Use:   "reconcile --config FILE [--cell N]... [--since 1h|RFC3339] [--provider NAME=URL]...",
		Short: "Prove that nothing was lost or doubled and that every replica agrees",
		Long: `Reconcile the cluster now (the meta leader also does it after every failover
and failback, and every few minutes): for each cell, a checkpoint through its
leader and every replica's state digest there (a mismatch names the replicas
and the first differing key range), the leader's check of the ledger (money
conserved, no account below its limit, cross-cell transfers and payouts not
stuck), the cross-cell sums, and the payouts created since --since matched
against each --provider's statement (missing at the provider, missing in the
ledger, amount mismatches, duplicates). docs/RECONCILE.md explains every
finding.

Exit codes: 0 all clear, 10 findings, 2 bad flags, 3 invalid topology,
4 the cluster could not be asked (the report then says what was covered).`,
		Example: `  cellpay reconcile --config deploy/topologies/local.yaml
  cellpay reconcile --config prod.yaml --cell 7 --since 2026-12-01T14:00:00Z -o json
  cellpay reconcile --config prod.yaml --provider bank-a=http://127.0.0.1:7500`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if configPath == "" {
				errs = append(errs, errors.New("--config is required"))
			}
			from, err := parseSince(since, time.Now())
			if err != nil {
				errs = append(errs, err)
			}
			if timeout <= 0 {
				errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", timeout))
			}
			if len(errs) > 0 {
				return usageError(cmd, errors.Join(errs...))
			}
			topo, err := topology.Load(configPath)
			if err != nil {
				return configError(err)
			}
			var ids []uint64
			for _, c := range cells {
				if _, ok := topo.Cell(uint64(c)); !ok {
					return usageError(cmd, fmt.Errorf("--cell %d is not in the topology", c))
				}
				ids = append(ids, uint64(c))
			}
			providers, err := parseProviders(cmd, providerSpecs, tokenFile)
			if err != nil {
				return err
			}
			statements := map[string]channel.StatementReader{}
			for _, p := range providers {
				statements[p.Name()] = p.(channel.StatementReader)
			}
			sec, err := secOpts.load(cmd, topo, "", auth.RoleOperator, "", nil, nil)
			if err != nil {
				return err
			}
			r, err := control.NewReconciler(control.ReconcilerConfig{Topology: topo, TLS: sec.ClientTLS(), Statements: statements, StuckAfter: stuckAfter})
			if err != nil {
				return err
			}
			defer r.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, runErr := r.Run(ctx, ids, from)
			if format == outputJSON {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			switch {
			case !rep.AllClear:
				return &exitError{code: exitFindings, err: fmt.Errorf("reconcile: %s", control.FindingsText(rep))}
			case runErr != nil:
				return &exitError{code: exitUnhealthy, err: fmt.Errorf("reconcile: not everything could be covered: %w", runErr)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "topology file (YAML), to find every cell's replicas")
	f.UintSliceVar(&cells, "cell", nil, "cells to reconcile (repeat or comma-separate; default every cell)")
	f.StringVar(&since, "since", "1h", "match the payouts created since then: a duration back from now (1h) or an RFC 3339 time")
	f.DurationVar(&stuckAfter, "stuck-after", time.Minute, "unsettled transfers and payouts older than this are findings")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "bound on the whole run")
	f.StringArrayVar(&providerSpecs, "provider", nil, "a payout provider whose statement to match, as NAME=URL (repeat it)")
	f.StringVar(&tokenFile, "provider-token-file", "", "file holding the bearer token the providers require")
	addOutputFlag(cmd, &format)
	addSecurityFlags(cmd, &secOpts, true, false)
	return cmd
}

// parseSince reads --since: a duration back from now or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: a duration must not be negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (1h) or an RFC 3339 time (2026-12-01T14:00:00Z)", s)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--since %q is in the future", s)
	}
	return t, nil
}
