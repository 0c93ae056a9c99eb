package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/topology"
)

func newTopologyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Work with topology files",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newTopologyValidateCmd())
	return cmd
}

func newTopologyValidateCmd() *cobra.Command {
	var (
		env    string
		format outputFormat
	)
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a topology file and summarize it",
		Long: `Validate loads a topology file and checks every rule. When the file is
invalid it prints every violation, one per line, and exits with 3. When it is
valid it prints a summary: the environment, the sites with their regions, the
nodes and the cells homed in each site, and the slot coverage.

With --env, the file must also be meant for that environment, as a process
started with --env would require.`,
		Example: `  cellpay topology validate deploy/topologies/demo.yaml
  cellpay topology validate prod.yaml --env prod -o json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("env") && env == "" {
				return usageError(cmd, errors.New("--env is empty"))
			}
			return validateTopology(cmd.OutOrStdout(), args[0], env, format)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "also require the file to be for this environment (e.g. prod)")
	addOutputFlag(cmd, &format)
	return cmd
}

// validateReport is the -o json output of topology validate.
type validateReport struct {
	File        string              `json:"file"`
	Valid       bool                `json:"valid"`
	Violations  []violationReport   `json:"violations,omitempty"`
	Omitted     int                 `json:"omitted_violations,omitempty"`
	Environment string              `json:"environment,omitempty"`
	Sites       []siteReport        `json:"sites,omitempty"`
	Nodes       int                 `json:"nodes,omitempty"`
	Cells       int                 `json:"cells,omitempty"`
	Slots       *slotCoverageReport `json:"slots,omitempty"`
}

type violationReport struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

type siteReport struct {
	ID         string   `json:"id"`
	Region     string   `json:"region"`
	Nodes      []string `json:"nodes"`
	CellsHomed int      `json:"cells_homed"`
	Replicas   int      `json:"replicas"`
}

type slotCoverageReport struct {
	Total          int `json:"total"`
	Owned          int `json:"owned"`
	PerCellSlotMin int `json:"per_cell_min"`
	PerCellSlotMax int `json:"per_cell_max"`
}

func validateTopology(stdout io.Writer, path, env string, format outputFormat) error {
	report := validateReport{File: path}
	topo, err := topology.Load(path)
	var invalid *topology.ValidationError
	switch {
	case errors.As(err, &invalid):
		for _, v := range invalid.Violations {
			report.Violations = append(report.Violations, violationReport{Path: v.Path, Message: v.Message})
		}
		report.Omitted = invalid.Omitted
		count := len(invalid.Violations) + invalid.Omitted
		summary := fmt.Errorf("topology file %s is invalid (%d violation%s)", path, count, plural(count))
		if format == outputJSON {
			return refuse(stdout, report, summary)
		}
		// One violation per line, after the summary.
		return &exitError{code: exitInvalidConfig, err: fmt.Errorf("%w:\n%w", summary, err)}
	case err != nil:
		return err
	}
	if env != "" {
		if err := topo.CheckEnvironment(env); err != nil {
			if format == outputJSON {
				message := strings.TrimPrefix(err.Error(), topology.ErrWrongEnvironment.Error()+": ")
				report.Violations = []violationReport{{Path: "environment", Message: message}}
				return refuse(stdout, report, err)
			}
			return &exitError{code: exitInvalidConfig, err: err}
		}
	}

	report.Valid = true
	summarize(&report, topo)
	if format == outputJSON {
		return writeJSON(stdout, report)
	}
	return writeSummaryTable(stdout, report)
}

// refuse writes the JSON report of a refused file and returns err with the
// invalid-configuration exit code.
func refuse(stdout io.Writer, report validateReport, err error) error {
	if werr := writeJSON(stdout, report); werr != nil {
		return werr
	}
	return &exitError{code: exitInvalidConfig, err: err}
}

func summarize(report *validateReport, topo *topology.Topology) {
	report.Environment = topo.Environment()
	report.Nodes = len(topo.Nodes())
	cells := topo.Cells()
	report.Cells = len(cells)
	homed := map[string]int{}
	coverage := &slotCoverageReport{Total: topology.Slots, PerCellSlotMin: topology.Slots}
	for _, c := range cells {
		homed[c.Home]++
		slots := 0
		for _, r := range c.Slots {
			slots += r.Len()
		}
		coverage.Owned += slots
		coverage.PerCellSlotMin = min(coverage.PerCellSlotMin, slots)
		coverage.PerCellSlotMax = max(coverage.PerCellSlotMax, slots)
	}
	report.Slots = coverage
	for _, s := range topo.Sites() {
		site := siteReport{ID: s.ID, Region: s.Region, Nodes: []string{}, CellsHomed: homed[s.ID]}
		for _, n := range topo.NodesOfSite(s.ID) {
			site.Nodes = append(site.Nodes, n.ID)
			site.Replicas += len(topo.CellsOfNode(n.ID))
		}
		report.Sites = append(report.Sites, site)
	}
}

func writeSummaryTable(w io.Writer, r validateReport) error {
	regions := map[string]bool{}
	for _, s := range r.Sites {
		regions[s.Region] = true
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "topology file %s is valid\n\n", r.File)
	fmt.Fprintf(tw, "environment\t%s\n", r.Environment)
	fmt.Fprintf(tw, "sites\t%d in %d region%s\n", len(r.Sites), len(regions), plural(len(regions)))
	fmt.Fprintf(tw, "nodes\t%d\n", r.Nodes)
	fmt.Fprintf(tw, "cells\t%d\n", r.Cells)
	fmt.Fprintf(tw, "slots\t%d of %d owned, %d to %d per cell\n\n", r.Slots.Owned, r.Slots.Total, r.Slots.PerCellSlotMin, r.Slots.PerCellSlotMax)
	fmt.Fprintf(tw, "SITE\tREGION\tNODES\tCELLS HOMED\tREPLICAS\n")
	for _, s := range r.Sites {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", s.ID, s.Region, len(s.Nodes), s.CellsHomed, s.Replicas)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
