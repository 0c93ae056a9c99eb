package demo

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cellpay/cellpay/chaos"
)

// Config of a demo. DefaultConfig fills every tunable; Validate reports
// every violation at once.
type Config struct {
	// Scenario is the chaos scenario the story plays (default fiber-cut).
	Scenario string
	Seed     int64
	// Duration of the story's traffic (default 40 s, so that the whole
	// story, start to summary, stays under two minutes on two cores). At
	// least 3 s, at most DurationMax.
	Duration time.Duration
	// Cells (default 12, homed round-robin over the three sites) and
	// NodesPerSite (default 2) shape the cluster.
	Cells, NodesPerSite int
	// HoldDown is how long a repaired home site must stay healthy before
	// its cells fail back (default 6 s; the controller's own default is
	// 10 s, a long wait in a demo).
	HoldDown time.Duration
	// Workers is the number of concurrent client workers (default 16). The
	// story needs at least one; Interactive runs no traffic with 0.
	Workers int
	// DataDir holds the nodes' data; ReportDir receives the reports (and,
	// interactive, the topology file). Both required.
	DataDir, ReportDir string
	// Out is the terminal (default io.Discard). Live: Out is a terminal,
	// so the status line of the current phase is rewritten in place;
	// otherwise a plain line is printed every StatusInterval (default 5 s)
	// and at the end of each phase.
	Out            io.Writer
	Live           bool
	StatusInterval time.Duration
	// Logger receives the cluster's logs (default: discarded).
	Logger *slog.Logger
	// LogPath, if set, is where Logger writes, for the banner.
	LogPath string
	// Token is the operator token Interactive configures for drills
	// (required there; the story configures none).
	Token string
}

// Limits of the flags, so a typo cannot start a cluster the machine
// cannot hold or a story nobody waits for.
const (
	DurationMin     = 3 * time.Second // chaos.Run's minimum
	DurationMax     = 10 * time.Minute
	CellsMax        = 48
	NodesPerSiteMax = 5
	HoldDownMax     = time.Minute
	WorkersMax      = 64
)

// Default fault window of the story, as percentages of the traffic: the
// fiber is cut at 20% and repaired at 55%, leaving 45% for the failback
// under traffic.
const (
	faultStartPercent = 20
	faultEndPercent   = 55
)

// DefaultConfig returns the documented defaults (directories unset).
func DefaultConfig() Config {
	return Config{
		Scenario:       "fiber-cut",
		Seed:           1,
		Duration:       40 * time.Second,
		Cells:          12,
		NodesPerSite:   2,
		HoldDown:       6 * time.Second,
		Workers:        16,
		Out:            io.Discard,
		StatusInterval: 5 * time.Second,
	}
}

// Validate reports every violation of c, with its value. Story checks the
// story's fields; Interactive ignores Scenario and Duration.
func (c Config) Validate(story bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("demo: "+format, args...)) }
	if story {
		if _, err := chaos.ScenarioByName(c.Scenario); err != nil {
			errs = append(errs, err)
		}
		if c.Duration < DurationMin || c.Duration > DurationMax {
			bad("duration (%s) must be between %s and %s", c.Duration, DurationMin, DurationMax)
		}
		if c.Workers < 1 || c.Workers > WorkersMax {
			bad("workers (%d) must be between 1 and %d", c.Workers, WorkersMax)
		}
	} else {
		if c.Workers < 0 || c.Workers > WorkersMax {
			bad("workers (%d) must be between 0 (no traffic) and %d", c.Workers, WorkersMax)
		}
		if c.Token == "" {
			bad("an operator token is required")
		}
	}
	if c.Cells < 1 || c.Cells > CellsMax {
		bad("cells (%d) must be between 1 and %d", c.Cells, CellsMax)
	}
	if c.NodesPerSite < 1 || c.NodesPerSite > NodesPerSiteMax {
		bad("nodes per site (%d) must be between 1 and %d", c.NodesPerSite, NodesPerSiteMax)
	}
	if c.HoldDown < 0 || c.HoldDown > HoldDownMax {
		bad("hold-down (%s) must be between 0s and %s", c.HoldDown, HoldDownMax)
	}
	if c.StatusInterval <= 0 {
		bad("status interval (%s) must be positive", c.StatusInterval)
	}
	if c.DataDir == "" {
		bad("a data directory is required")
	}
	if c.ReportDir == "" {
		bad("a report directory is required")
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
