// Command cellpay is the one cellpay binary: every process (node, router,
// demo) and every operator tool is a subcommand. This package is wiring
// only: flags, then configuration, then the packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, for scripts to react to.
const (
	exitOK      = 0
	exitFailure = 1 // anything else: I/O errors, a failed operation
	exitUsage   = 2 // bad arguments or flags
	// exitInvalidConfig: a configuration (e.g. the topology file) is
	// invalid, or meant for another environment.
	exitInvalidConfig = 3
	// exitUnhealthy (4, in status.go): the cluster could not be asked.
	// exitChecksFailed (5, in chaos.go). Drills (in drill.go): exitRefused
	// (6), exitDenied (7), exitDeclined (8), exitDrillFailed (9).
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code. Tests call
// it in process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "cellpay: %v\n", err)
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	return exitFailure
}

// newRootCmd builds the command tree. Every subcommand is a constructor
// newXxxCmd, added here and only here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cellpay",
		Short: "cellpay: a multi-datacenter, active-active payment router",
		Long: `cellpay runs every part of the cellpay payment router (nodes, routers, the
embedded demo) and the tools operators use on it.

Exit codes: 0 success, 1 failure, 2 bad arguments or flags,
3 invalid configuration (or configuration for another environment),
4 the cluster could not be asked (status, drill), 5 a chaos run's checks
failed, 6 a drill was refused, 7 no or bad operator token, 8 a drill was not
confirmed at the prompt, 9 a drill failed, was aborted or did not finish,
10 a reconciliation found problems.`,
		// run prints errors, once; a usage dump would bury them.
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          requireSubcommand,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err)
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newAccountCmd(),
		newCertCmd(),
		newChaosCmd(),
		newDemoCmd(),
		newDrillCmd(),
		newNodeCmd(),
		newReconcileCmd(),
		newPayoutsCmd(),
		newProviderCmd(),
		newRouterCmd(),
		newStatusCmd(),
		newTopologyCmd(),
	)
	return root
}

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError reports bad arguments or flags of cmd (exit code 2).
func usageError(cmd *cobra.Command, err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath())}
}

// requireSubcommand is the RunE of commands that only group subcommands:
// without one, or with an unknown one, it is a usage error. (Cobra itself
// would print the help and succeed.)
func requireSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError(cmd, errors.New("a subcommand is required"))
	}
	err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		err = fmt.Errorf("%w; did you mean %s?", err, strings.Join(suggestions, " or "))
	}
	return usageError(cmd, err)
}

// exactArgs is cobra.ExactArgs with usage errors; names names the
// arguments for the message, e.g. "FILE". No names: no arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == len(names):
			return nil
		case len(names) == 0:
			return usageError(cmd, fmt.Errorf("takes no arguments, got %q", args))
		}
		return usageError(cmd, fmt.Errorf("want %d argument(s) (%s), got %d", len(names), strings.Join(names, " "), len(args)))
	}
}

// outputFormat is the value of an -o/--output flag.
type outputFormat string

const (
	outputTable outputFormat = "table" // for people
	outputJSON  outputFormat = "json"  // for scripts
)

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "table|json" }

func (o *outputFormat) Set(value string) error {
	switch outputFormat(value) {
	case outputTable, outputJSON:
		*o = outputFormat(value)
		return nil
	}
	return fmt.Errorf("unknown output format %q: want table or json", value)
}

// addOutputFlag adds -o/--output (default table) to cmd.
func addOutputFlag(cmd *cobra.Command, format *outputFormat) {
	*format = outputTable
	cmd.Flags().VarP(format, "output", "o", "output format: table or json")
}
