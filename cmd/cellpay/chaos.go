package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos"
	"github.com/cellpay/cellpay/chaos/proxy"
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

// offsetFlag is a --fault-start/--fault-end value: "20%" or "4s".
type offsetFlag struct{ o *chaos.Offset }

func (f offsetFlag) String() string { return f.o.String() }
func (f offsetFlag) Type() string   { return "PERCENT%|DURATION" }
func (f offsetFlag) Set(s string) error {
	o, err := chaos.ParseOffset(s)
	if err != nil {
		return err
	}
	*f.o = o
	return nil
}

// newChaosRunCmd: cellpay chaos run --scenario NAME --seed N --duration D [--target PROXYCONFIG|RUNDIR]
func newChaosRunCmd() *cobra.Command {
	var (
		scenario, outDir        string
		target, configPath, env string
		pidDir                  string
		secOpts                 securityFlags
		seed                    int64
		duration                time.Duration
		workers                 int
		errorsMax               int
		keep, list              bool
		faultStart, faultEnd    = chaos.Percent(chaos.DefaultFaultStartPercent), chaos.Percent(chaos.DefaultFaultEndPercent)
	)
	cmd := &cobra.Command{
		Use:   "run --scenario NAME [--seed N] [--duration D] [--fault-start 20%] [--fault-end 60%] [--target PROXYCONFIG|RUNDIR --env ENV]",
		Short: "Run one fault scenario on a cluster (in process, or running processes with --target) and check it",
		Long: `Start an in-process three-site cluster, drive the bank workload through
router/client, inject the scenario's faults from --fault-start to --fault-end
of the traffic (a percentage of --duration, or a time such as 4s), heal,
wait for every replica to agree, and check: conservation of money, no lost
acknowledged write, replicas agree, linearizable reads, availability.

With --target, play on a running cluster of separate processes instead
(e.g. 'make cluster'): --target is the chaos proxy's config file (or a run
directory holding proxy.json, topology.yaml and pids/, as
deploy/local/cluster-up.sh makes). The workload reaches the routers through
the proxy's client routes, faults go to the proxy's control API, leaders,
digests and balances are read from the nodes' gRPC services (dialed directly).
--config is the cluster's topology and --env its environment (required).
Accounts and keys carry a run tag, so runs never collide. node-crash and
router-crash kill processes (SIGKILL) and restart them with the same command
line; they need the processes' pid files (--pids DIR: node-ID.pid,
router-SITE.pid) and are refused without them.

Scenarios: ` + scenarioNames() + `.

Writes report.txt, report.json and report.html to --out and prints the
summary. Exit code 5 when a checker fails or cannot decide; 2 for bad flags
(every schedule violation is listed); 3 for an invalid topology or proxy
config; 1 when the target cannot be reached.`,
		Example: `  cellpay chaos run --scenario fiber-cut --seed 3 --duration 20s
  cellpay chaos run --scenario split --duration 30s --fault-start 5s --fault-end 15s
  cellpay chaos run --scenario fiber-cut --target bin/cluster --env local`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list { // for scripts (make chaos): every scenario, one per line
				for _, sc := range chaos.Scenarios {
					fmt.Fprintln(cmd.OutOrStdout(), sc.Name)
				}
				return nil
			}
			opts := chaos.Options{
				Scenario: scenario, Seed: seed, Duration: duration, FaultStart: faultStart, FaultEnd: faultEnd,
				Workers: workers, ErrorsMax: errorsMax, Dir: "-",
			}
			if err := opts.Validate(); err != nil {
				return usageError(cmd, err)
			}
			if target == "" {
				for _, name := range []string{"config", "env", "pids"} {
					if cmd.Flags().Changed(name) {
						return usageError(cmd, fmt.Errorf("--%s is for --target runs", name))
					}
				}
			} else {
				t, err := dialChaosTarget(cmd, target, configPath, env, pidDir, &secOpts)
				if err != nil {
					return err
				}
				defer t.Close()
				opts.Target, opts.Dir = t, ""
				if err := opts.Validate(); err != nil {
					return usageError(cmd, err)
				}
			}
			if outDir == "" {
				outDir = fmt.Sprintf("chaos-report-%s-%d", scenario, seed)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			if opts.Target == nil {
				dataDir, err := os.MkdirTemp("", "cellpay-chaos-")
				if err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dataDir)
				}
				opts.Dir = dataDir
			}
			out := cmd.OutOrStdout()
			opts.Progress = func(line string) { fmt.Fprintf(out, "… %s\n", line) }
			run, runErr := chaos.Run(cmd.Context(), opts)
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
	f.DurationVar(&duration, "duration", 20*time.Second, "traffic duration")
	f.Var(offsetFlag{&faultStart}, "fault-start", "when the faults start: a percentage of --duration (20%) or a time into the traffic (4s)")
	f.Var(offsetFlag{&faultEnd}, "fault-end", "when the faults are healed: a percentage of --duration (60%) or a time into the traffic (12s); at most --duration")
	f.IntVar(&workers, "workers", 8, "concurrent client workers")
	f.IntVar(&errorsMax, "errors-max", 0, "client-visible errors the availability check tolerates")
	f.StringVar(&outDir, "out", "", "directory for report.txt/json/html (default chaos-report-SCENARIO-SEED)")
	f.BoolVar(&keep, "keep", false, "keep the in-process cluster's data directory")
	f.BoolVar(&list, "list", false, "print every scenario's name, one per line, and exit")
	f.StringVar(&target, "target", "", "play on a running cluster: its chaos proxy config (JSON), or a run directory with proxy.json, topology.yaml and pids/")
	f.StringVar(&configPath, "config", "", "with --target: the cluster's topology (default RUNDIR/topology.yaml)")
	f.StringVar(&env, "env", "", "with --target: the cluster's environment; the topology must be meant for it")
	addSecurityFlags(cmd, &secOpts, true, false)
	f.StringVar(&pidDir, "pids", "", "with --target: directory of the processes' pid files, for node-crash and router-crash (default RUNDIR/pids)")
	return cmd
}

// dialChaosTarget loads the topology and the proxy config of --target and
// dials the cluster. A run directory supplies defaults for the topology and
// the pid files.
func dialChaosTarget(cmd *cobra.Command, target, configPath, env, pidDir string, secOpts *securityFlags) (chaos.Target, error) {
	proxyPath := target
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		proxyPath = filepath.Join(target, "proxy.json")
		if configPath == "" {
			configPath = filepath.Join(target, "topology.yaml")
		}
		if pidDir == "" {
			if st, err := os.Stat(filepath.Join(target, "pids")); err == nil && st.IsDir() {
				pidDir = filepath.Join(target, "pids")
			}
		}
	}
	var missing []error
	if configPath == "" {
		missing = append(missing, errors.New("--config is required with --target (unless --target is a run directory)"))
	}
	if env == "" {
		missing = append(missing, errors.New("--env is required with --target"))
	}
	if len(missing) > 0 {
		return nil, usageError(cmd, errors.Join(missing...))
	}
	topo, err := topology.Load(configPath)
	if err != nil {
		return nil, configError(err)
	}
	if err := topo.CheckEnvironment(env); err != nil {
		return nil, &exitError{code: exitInvalidConfig, err: err}
	}
	pcfg, err := proxy.LoadConfig(proxyPath)
	if errors.Is(err, proxy.ErrInvalidConfig) {
		return nil, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--target: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("--target: %w", err)
	}
	operator, err := secOpts.load(cmd, topo, env, auth.RoleOperator, "", nil, nil)
	if err != nil {
		return nil, err
	}
	client := operator
	if !secOpts.insecure {
		name, err := secOpts.toolNameOf(auth.RoleClient)
		if err != nil {
			return nil, err
		}
		if client, err = secOpts.load(cmd, topo, env, auth.RoleClient, name, nil, nil); err != nil {
			return nil, err
		}
	}
	t, err := chaos.DialRemote(cmd.Context(), chaos.RemoteConfig{Topology: topo, Proxy: pcfg, PidDir: pidDir,
		OperatorTLS: operator.ClientTLS(), ClientTLS: client.ClientTLS()})
	if errors.Is(err, chaos.ErrInvalidTarget) {
		return nil, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--target %s: %w", proxyPath, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("--target %s: %w", proxyPath, err)
	}
	return t, nil
}
