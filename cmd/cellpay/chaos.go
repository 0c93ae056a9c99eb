package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/chaos"
)

// exitChecksFailed: a chaos run finished but a checker failed or could not decide.
const exitChecksFailed = 5

// newChaosCmd groups the chaos tools: runs of scenarios and the fault proxy.
func newChaosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Game days: run fault scenarios and control the fault proxy",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newChaosRunCmd())
	addChaosProxyCommands(cmd)
	return cmd
}

func scenarioNames() string {
	var names []string
	for _, s := range chaos.Scenarios {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// newChaosRunCmd: cellpay chaos run --scenario NAME --seed N --duration D
func newChaosRunCmd() *cobra.Command {
	var (
		scenario, outDir string
		seed             int64
		duration         time.Duration
		workers          int
		errorsMax        int
		keep             bool
	)
	cmd := &cobra.Command{
		Use:   "run --scenario NAME [--seed N] [--duration D]",
		Short: "Run one fault scenario on an in-process three-site cluster and check it",
		Long: `Start an in-process three-site cluster, drive the bank workload through
router/client, inject the scenario's faults in the middle of the run, heal,
wait for every replica to agree, and check: conservation of money, no lost
acknowledged write, replicas agree, linearizable reads, availability.

Scenarios: ` + scenarioNames() + `.

Writes report.txt, report.json and report.html to --out and prints the
summary. Exit code 5 when a checker fails or cannot decide.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := chaos.ScenarioByName(scenario); err != nil {
				return usageError(cmd, err)
			}
			if outDir == "" {
				outDir = fmt.Sprintf("chaos-report-%s-%d", scenario, seed)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			dataDir, err := os.MkdirTemp("", "cellpay-chaos-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(dataDir)
			}
			out := cmd.OutOrStdout()
			run, runErr := chaos.Run(cmd.Context(), chaos.Options{
				Scenario: scenario, Seed: seed, Duration: duration, Dir: dataDir, Workers: workers, ErrorsMax: errorsMax,
				Progress: func(line string) { fmt.Fprintf(out, "… %s\n", line) },
			})
			if run.Scenario == "" {
				return runErr
			}
			files := map[string]*os.File{}
			for _, name := range []string{"report.txt", "report.json", "report.html"} {
				f, err := os.Create(filepath.Join(outDir, name))
				if err != nil {
					return err
				}
				defer f.Close()
				files[name] = f
			}
			if err := chaos.WriteAll(run, files["report.txt"], files["report.json"], files["report.html"]); err != nil {
				return err
			}
			if err := chaos.WriteAll(run, out, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(out, "reports in %s\n", outDir)
			if runErr != nil {
				return &exitError{code: exitChecksFailed, err: runErr}
			}
			if !run.Pass() {
				return &exitError{code: exitChecksFailed, err: fmt.Errorf("scenario %s (seed %d): checks failed", scenario, seed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenario, "scenario", "fiber-cut", "scenario: "+scenarioNames())
	f.Int64Var(&seed, "seed", 1, "random seed of the workload and the faults")
	f.DurationVar(&duration, "duration", 20*time.Second, "traffic duration; faults run from 20% to 60% of it")
	f.IntVar(&workers, "workers", 8, "concurrent client workers")
	f.IntVar(&errorsMax, "errors-max", 0, "client-visible errors the availability check tolerates")
	f.StringVar(&outDir, "out", "", "directory for report.txt/json/html (default chaos-report-SCENARIO-SEED)")
	f.BoolVar(&keep, "keep", false, "keep the cluster's data directory")
	return cmd
}
