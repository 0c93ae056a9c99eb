package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/meta"
)

// Exit codes of cellpay drill (see also exitUsage, exitInvalidConfig and
// exitUnhealthy: the meta group could not be asked).
const (
	// exitRefused: the cluster refused the drill (DRILL_REFUSED, e.g. the
	// site is already drained, or DRILL_RUNNING: another drill runs), or
	// there is no drill to abort.
	exitRefused = 6
	// exitDenied: no operator token, or the cluster did not accept it.
	exitDenied = 7
	// exitDeclined: the operator did not answer yes at the prompt; nothing
	// was started.
	exitDeclined = 8
	// exitDrillFailed: the drill started but failed, was aborted, or did
	// not finish within --timeout.
	exitDrillFailed = 9
)

const (
	// drillPollInterval is how often a running drill's progress is read.
	drillPollInterval = 200 * time.Millisecond
	// drillCallTimeout bounds one RPC to one meta voter (a drill's start
	// records several entries in the meta group).
	drillCallTimeout = 15 * time.Second
	// drillRetryPause separates rounds over the voters while none leads.
	drillRetryPause = 200 * time.Millisecond
	// tokenEnv is where --token defaults from.
	tokenEnv = "CELLPAY_TOKEN"
)

// newDrillCmd groups the drill commands.
func newDrillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Plan, run and follow failover drills: evacuate, move, failback",
		Long: `A drill moves cell leaders on purpose, through the failover controller of
the meta group's leader: evacuate drains a site (its leaders move to other
sites), move pins one cell's leader to a site, failback makes a site healthy
again and brings home the cells homed there.

Every drill command reads the topology file (--config) to find the meta
voters (the first node of every site) and follows the meta leader. Starting
or aborting a drill needs an operator token (--token, or $CELLPAY_TOKEN).

Exit codes: 0 success (a dry run, a drill that succeeded), 2 bad arguments,
3 invalid topology file, 4 the meta group could not be asked, 6 the drill was
refused, 7 no or bad token, 8 not confirmed at the prompt (nothing started),
9 the drill failed, was aborted or did not finish within --timeout.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(
		newDrillSiteCmd(failover.DrillEvacuate, "Drain a site: move every leader it holds to other sites"),
		newDrillMoveCmd(),
		newDrillSiteCmd(failover.DrillFailback, "Make a drained site healthy again and bring its cells home"),
		newDrillStatusCmd(),
		newDrillAbortCmd(),
	)
	return cmd
}

// drillOptions are the flags every drill command has.
type drillOptions struct {
	configPath string
	token      string
	timeout    time.Duration
	format     outputFormat
	sec        securityFlags
}

func (o *drillOptions) addFlags(cmd *cobra.Command, timeout time.Duration) {
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "topology file (YAML), to find the meta voters")
	f.StringVar(&o.token, "token", "", "operator token (default $"+tokenEnv+")")
	f.DurationVar(&o.timeout, "timeout", timeout, "bound on the whole command (the confirmation prompt excepted)")
	addOutputFlag(cmd, &o.format)
	addSecurityFlags(cmd, &o.sec, true, false)
}

// check reports the common flags' usage errors.
func (o *drillOptions) check(cmd *cobra.Command) error {
	var errs []error
	if o.configPath == "" {
		errs = append(errs, errors.New("--config is required"))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", o.timeout))
	}
	if len(errs) > 0 {
		return usageError(cmd, errors.Join(errs...))
	}
	return nil
}

// connect loads the topology and returns a client of the meta group. With
// needToken (naming what needs it: "drills"), a missing token is refused
// before anything is asked.
func (o *drillOptions) connect(cmd *cobra.Command, needToken string) (*meta.Client, error) {
	topo, err := topology.Load(o.configPath)
	if err != nil {
		return nil, configError(err)
	}
	token := o.token
	if !cmd.Flags().Changed("token") {
		token = os.Getenv(tokenEnv)
	} else if token != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "cellpay: warning: a --token on the command line is visible to every user of this machine (ps); prefer $%s\n", tokenEnv)
	}
	if needToken != "" && token == "" {
		return nil, &exitError{code: exitDenied, err: fmt.Errorf("%s need an operator token: pass --token or set $%s", needToken, tokenEnv)}
	}
	sec, err := o.sec.load(cmd, topo, "", auth.RoleOperator, "", nil, nil)
	if err != nil {
		return nil, err
	}
	mc, err := meta.NewClient(meta.ClientConfig{Topology: topo, Token: token, TLS: sec.ClientTLS(), CallTimeout: drillCallTimeout, RetryPause: drillRetryPause})
	if err != nil {
		return nil, &exitError{code: exitInvalidConfig, err: err}
	}
	return mc, nil
}

// human is where messages for people go: stdout, or stderr when stdout
// carries JSON.
func (o *drillOptions) human(cmd *cobra.Command) io.Writer {
	if o.format == outputJSON {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// newDrillSiteCmd: cellpay drill evacuate|failback --site SITE
func newDrillSiteCmd(kind failover.DrillKind, short string) *cobra.Command {
	var (
		o           drillOptions
		site        string
		dryRun, yes bool
	)
	cmd := &cobra.Command{
		Use:   string(kind) + " --site SITE --config FILE",
		Short: short,
		Example: fmt.Sprintf(`  cellpay drill %[1]s --site hz-a --config prod.yaml --dry-run
  CELLPAY_TOKEN=... cellpay drill %[1]s --site hz-a --config prod.yaml`, kind),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if site == "" {
				return usageError(cmd, errors.New("--site is required"))
			}
			return runDrill(cmd, &o, &pb.DrillRequest{Kind: string(kind), Site: site, DryRun: dryRun}, yes)
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "the site to "+string(kind))
	addRunFlags(cmd, &dryRun, &yes)
	o.addFlags(cmd, 3*time.Minute)
	return cmd
}

// newDrillMoveCmd: cellpay drill move --cell N --to SITE
func newDrillMoveCmd() *cobra.Command {
	var (
		o           drillOptions
		cellID      uint64
		to          string
		dryRun, yes bool
	)
	cmd := &cobra.Command{
		Use:     "move --cell N --to SITE --config FILE",
		Short:   "Move one cell's leader to a site, and pin it there",
		Example: `  cellpay drill move --cell 3 --to sh-a --config prod.yaml --dry-run`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if cellID == 0 {
				errs = append(errs, errors.New("--cell is required (a cell id, from 1)"))
			}
			if to == "" {
				errs = append(errs, errors.New("--to is required"))
			}
			if len(errs) > 0 {
				return usageError(cmd, errors.Join(errs...))
			}
			return runDrill(cmd, &o, &pb.DrillRequest{Kind: string(failover.DrillMove), CellId: cellID, TargetSite: to, DryRun: dryRun}, yes)
		},
	}
	cmd.Flags().Uint64Var(&cellID, "cell", 0, "the cell to move")
	cmd.Flags().StringVar(&to, "to", "", "the site to move its leader to")
	addRunFlags(cmd, &dryRun, &yes)
	o.addFlags(cmd, 3*time.Minute)
	return cmd
}

func addRunFlags(cmd *cobra.Command, dryRun, yes *bool) {
	cmd.Flags().BoolVar(dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "start without asking for confirmation")
}

// checkRequest reports the arguments of req that the topology rules out.
func checkRequest(cmd *cobra.Command, topo *topology.Topology, req *pb.DrillRequest) error {
	var errs []error
	siteIDs := func() string {
		var ids []string
		for _, s := range topo.Sites() {
			ids = append(ids, s.ID)
		}
		return strings.Join(ids, ", ")
	}
	if req.GetSite() != "" {
		if _, ok := topo.Site(req.GetSite()); !ok {
			errs = append(errs, fmt.Errorf("--site %q is not in the topology (sites: %s)", req.GetSite(), siteIDs()))
		}
	}
	if req.GetTargetSite() != "" {
		if _, ok := topo.Site(req.GetTargetSite()); !ok {
			errs = append(errs, fmt.Errorf("--to %q is not in the topology (sites: %s)", req.GetTargetSite(), siteIDs()))
		}
	}
	if req.GetKind() == string(failover.DrillMove) {
		if _, ok := topo.Cell(req.GetCellId()); !ok {
			errs = append(errs, fmt.Errorf("--cell %d is not in the topology (%d cells)", req.GetCellId(), len(topo.Cells())))
		}
	}
	if len(errs) > 0 {
		return usageError(cmd, errors.Join(errs...))
	}
	return nil
}

// runDrill plans (dry run) or runs the drill req: show the plan, ask
// (unless yes), start it, follow it to its end and summarize it.
func runDrill(cmd *cobra.Command, o *drillOptions, req *pb.DrillRequest, yes bool) error {
	if err := o.check(cmd); err != nil {
		return err
	}
	// The request is checked against the topology before anything else
	// (a usage error is one, whatever the credentials).
	topo, err := topology.Load(o.configPath)
	if err != nil {
		return configError(err)
	}
	if err := checkRequest(cmd, topo, req); err != nil {
		return err
	}
	mc, err := o.connect(cmd, "drills")
	if err != nil {
		return err
	}
	defer mc.Close()
	out, human := cmd.OutOrStdout(), o.human(cmd)

	if req.GetDryRun() {
		ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
		defer cancel()
		d, err := startDrill(ctx, mc, req)
		if err != nil {
			return drillCallError("plan the drill", err)
		}
		if o.format == outputJSON {
			return writeProtoJSON(out, d)
		}
		if err := printPlan(out, d); err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, "\ndry run: nothing was changed")
		return err
	}

	var shown *pb.Drill
	if !yes {
		// Plan, show, ask. The prompt is not timed.
		ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
		plan := proto.CloneOf(req)
		plan.DryRun = true
		d, err := startDrill(ctx, mc, plan)
		cancel()
		if err != nil {
			return drillCallError("plan the drill", err)
		}
		if err := printPlan(human, d); err != nil {
			return err
		}
		if len(d.GetWarnings()) == 0 { // else the cluster refuses it: let it say so (and audit it)
			ok, err := confirm(cmd.InOrStdin(), human)
			if err != nil {
				return err
			}
			if !ok {
				return &exitError{code: exitDeclined, err: errors.New("drill not started: not confirmed")}
			}
		}
		shown = d
	}

	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	d, err := startDrill(ctx, mc, req)
	if err != nil {
		return drillCallError("start the drill", err)
	}
	switch {
	case shown == nil:
		if err := printPlan(human, d); err != nil {
			return err
		}
	case !sameMoves(shown, d):
		fmt.Fprintln(human, "\nnote: the plan changed since it was shown; the drill makes these moves:")
		printMoves(human, d)
	}
	fmt.Fprintf(human, "\ndrill %s started\n", d.GetId())
	final, err := followDrill(ctx, cmd.Context(), mc, d, newProgress(human, isTerminal(human), time.Now))
	if err != nil {
		return err
	}
	if o.format == outputJSON {
		if err := writeProtoJSON(out, final); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out)
		if err := printDrill(out, final); err != nil {
			return err
		}
	}
	return drillOutcome(final)
}

// confirm asks "Proceed? [y/N]" and reads one line: y or yes proceeds,
// anything else (or no answer) does not.
func confirm(in io.Reader, w io.Writer) (bool, error) {
	fmt.Fprint(w, "\nProceed? [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	if errors.Is(err, io.EOF) {
		fmt.Fprintln(w) // no newline was typed
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func sameMoves(a, b *pb.Drill) bool {
	key := func(d *pb.Drill) []string {
		var out []string
		for _, m := range d.GetMoves() {
			out = append(out, fmt.Sprintf("%d %s %s", m.GetCellId(), m.GetFromNode(), m.GetToNode()))
		}
		return out
	}
	return slices.Equal(key(a), key(b))
}

// drillOutcome is nil for a drill that succeeded.
func drillOutcome(d *pb.Drill) error {
	if d.GetState() == pb.DrillState_DRILL_SUCCEEDED {
		return nil
	}
	msg := fmt.Sprintf("drill %s %s", d.GetId(), drillStateName(d.GetState()))
	if d.GetReason() != "" {
		msg += ": " + d.GetReason()
	}
	return &exitError{code: exitDrillFailed, err: errors.New(msg)}
}

func drillFinished(st pb.DrillState) bool {
	switch st {
	case pb.DrillState_DRILL_SUCCEEDED, pb.DrillState_DRILL_FAILED, pb.DrillState_DRILL_ABORTED:
		return true
	}
	return false
}

// followDrill polls the meta group until the drill started ends, showing
// its progress. ctx bounds it (--timeout); parent is the command's context
// (an interrupt).
func followDrill(ctx, parent context.Context, mc *meta.Client, started *pb.Drill, p *progress) (*pb.Drill, error) {
	last := started
	p.update(last)
	tick := time.NewTicker(drillPollInterval)
	defer tick.Stop()
	for !drillFinished(last.GetState()) {
		select {
		case <-ctx.Done():
			p.end()
			why := "did not finish within --timeout"
			if parent.Err() != nil {
				why = "is no longer followed (interrupted)"
			}
			return last, &exitError{code: exitDrillFailed, err: fmt.Errorf("drill %s %s; it may still be running: see 'cellpay drill status', stop it with 'cellpay drill abort'", started.GetId(), why)}
		case <-tick.C:
		}
		ms, err := mc.AwaitStatus(ctx, &pb.MetaStatusRequest{})
		if err != nil {
			continue // no voter answered; ctx bounds the retries
		}
		d := ms.GetDrill()
		switch {
		case d.GetId() == started.GetId():
			last = d
			p.update(d)
		case d.GetStartedAtUnixMs() > started.GetStartedAtUnixMs():
			p.end()
			return last, &exitError{code: exitDrillFailed, err: fmt.Errorf("drill %s was followed by drill %s before its end was seen: see 'cellpay drill status'", started.GetId(), d.GetId())}
		}
		// else: this replica has not seen the drill yet
	}
	p.end()
	return last, nil
}

// progress shows a running drill: on a terminal a bar redrawn in place,
// otherwise one line per change.
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	moves map[uint64]pb.MoveState
	state pb.DrillState
	width int // of the last bar drawn, to blank it
}

func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, now: now, start: now(), moves: map[uint64]pb.MoveState{}}
}

func (p *progress) update(d *pb.Drill) {
	done := 0
	moving := uint64(0)
	for _, m := range d.GetMoves() {
		if m.GetState() != pb.MoveState_MOVE_PENDING {
			done++
		} else if moving == 0 {
			moving = m.GetCellId()
		}
	}
	total := len(d.GetMoves())
	if p.tty {
		p.draw(bar(done, total, moving, p.now().Sub(p.start)))
		return
	}
	for _, m := range d.GetMoves() {
		prev, seen := p.moves[m.GetCellId()]
		p.moves[m.GetCellId()] = m.GetState()
		if (seen && prev == m.GetState()) || m.GetState() == pb.MoveState_MOVE_PENDING {
			continue
		}
		line := fmt.Sprintf("cell %d: %s", m.GetCellId(), moveStateName(m.GetState()))
		switch m.GetState() {
		case pb.MoveState_MOVE_DONE:
			line += fmt.Sprintf(" in %s, %s -> %s", durationMs(m.GetDurationMs()), nodeSite(m.GetFromNode(), m.GetFromSite()), nodeSite(m.GetToNode(), m.GetToSite()))
		case pb.MoveState_MOVE_FAILED:
			line += ": " + m.GetError()
		}
		fmt.Fprintf(p.w, "%s  [%d/%d cells]\n", line, done, total)
	}
	if d.GetState() != p.state {
		p.state = d.GetState()
		if drillFinished(d.GetState()) {
			fmt.Fprintf(p.w, "drill %s %s after %s\n", d.GetId(), drillStateName(d.GetState()), seconds(p.now().Sub(p.start)))
		}
	}
}

func (p *progress) draw(line string) {
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width = len(line)
}

// end finishes the bar's line.
func (p *progress) end() {
	if p.tty && p.width > 0 {
		fmt.Fprintln(p.w)
		p.width = 0
	}
}

// bar is one frame of the terminal progress bar.
func bar(done, total int, moving uint64, elapsed time.Duration) string {
	const width = 20
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	s := fmt.Sprintf("[%s%s] %d/%d cells", strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total)
	if moving != 0 {
		s += fmt.Sprintf("  moving cell %d", moving)
	}
	return s + "  elapsed " + seconds(elapsed)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// isTerminal reports whether w is a terminal (progress bars) rather than a
// file or pipe (one line per change).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// newDrillStatusCmd: cellpay drill status
func newDrillStatusCmd() *cobra.Command {
	var (
		o             drillOptions
		events, audit uint32
	)
	cmd := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Show the running or last drill, the site states, events and audit log",
		Long: `Status reads the meta group's records from its leader (or, if it cannot be
reached, from another meta voter): the state of every site, pinned cells, the
running or last drill with its moves, and the newest events and audit
entries. With -o json it prints the MetaStatus message.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			mc, err := o.connect(cmd, "")
			if err != nil {
				return err
			}
			defer mc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			ms, err := mc.AwaitStatus(ctx, &pb.MetaStatusRequest{EventsMax: events, AuditMax: audit})
			if err != nil {
				return drillCallError("read the meta status", err)
			}
			if o.format == outputJSON {
				return writeProtoJSON(cmd.OutOrStdout(), ms)
			}
			return printMetaStatus(cmd.OutOrStdout(), mc.Topology(), ms)
		},
	}
	cmd.Flags().Uint32Var(&events, "events", 10, "how many of the newest events to show")
	cmd.Flags().Uint32Var(&audit, "audit", 10, "how many of the newest audit entries to show")
	o.addFlags(cmd, 10*time.Second)
	return cmd
}

// newDrillAbortCmd: cellpay drill abort
func newDrillAbortCmd() *cobra.Command {
	var o drillOptions
	cmd := &cobra.Command{
		Use:   "abort --config FILE",
		Short: "Abort the running drill and undo its change",
		Long: `Abort stops the running drill: an evacuated site is healthy again (its cells
return after the hold-down), a moved cell is unpinned. Moves already made are
not undone at once. Exit code 6 when no drill is running.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			mc, err := o.connect(cmd, "drills")
			if err != nil {
				return err
			}
			defer mc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			d, err := abortDrill(ctx, mc)
			if err != nil {
				return drillCallError("abort the drill", err)
			}
			if o.format == outputJSON {
				return writeProtoJSON(cmd.OutOrStdout(), d)
			}
			return printDrill(cmd.OutOrStdout(), d)
		},
	}
	o.addFlags(cmd, 30*time.Second)
	return cmd
}

// drillCallError gives a failed call to the meta group its exit code.
func drillCallError(what string, err error) error {
	var exit *exitError
	if errors.As(err, &exit) {
		return err
	}
	st := status.Convert(err)
	msg := st.Message()
	switch reason := rpcstatus.Reason(err); {
	case st.Code() == codes.FailedPrecondition && (reason == rpcstatus.ReasonDrillRefused || reason == rpcstatus.ReasonDrillBusy):
		return &exitError{code: exitRefused, err: fmt.Errorf("%s (%s)", msg, reason)}
	case st.Code() == codes.Unauthenticated || st.Code() == codes.PermissionDenied:
		return &exitError{code: exitDenied, err: fmt.Errorf("%s: permission denied: %s", what, msg)}
	case st.Code() == codes.InvalidArgument:
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s", what, msg)}
	case st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled:
		return &exitError{code: exitUnhealthy, err: fmt.Errorf("%s: the meta group could not be asked: %s", what, msg)}
	}
	return fmt.Errorf("%s: %s: %s", what, st.Code(), msg)
}

func startDrill(ctx context.Context, mc *meta.Client, req *pb.DrillRequest) (*pb.Drill, error) {
	var d *pb.Drill
	err := mc.Call(ctx, func(ctx context.Context, c pb.ControlClient) error {
		var err error
		d, err = c.StartDrill(ctx, req)
		return err
	})
	return d, err
}

func abortDrill(ctx context.Context, mc *meta.Client) (*pb.Drill, error) {
	var d *pb.Drill
	err := mc.Call(ctx, func(ctx context.Context, c pb.ControlClient) error {
		var err error
		d, err = c.AbortDrill(ctx, &pb.AbortDrillRequest{})
		return err
	})
	return d, err
}

// writeProtoJSON writes m as indented JSON with proto field names. The
// output is normalized (protojson's own spacing is deliberately unstable).
func writeProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// Printers.

func nodeSite(node, site string) string {
	if node == "" {
		node = "?"
	}
	return fmt.Sprintf("%s (%s)", node, site)
}

func durationMs(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }

func drillStateName(st pb.DrillState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "DRILL_"))
}

func moveStateName(st pb.MoveState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "MOVE_"))
}

func siteStateName(st pb.SiteState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "SITE_"))
}

// drillTitle is e.g. "evacuate site hz-a" or "move cell 3 to sh-a".
func drillTitle(d *pb.Drill) string {
	if d.GetKind() == string(failover.DrillMove) {
		return fmt.Sprintf("move cell %d to %s", d.GetCellId(), d.GetTargetSite())
	}
	return fmt.Sprintf("%s site %s", d.GetKind(), d.GetSite())
}

// printPlan prints a planned drill: its moves, the leaders per site before
// and after, and its warnings.
func printPlan(w io.Writer, d *pb.Drill) error {
	fmt.Fprintf(w, "plan: %s (%d move%s)\n", drillTitle(d), len(d.GetMoves()), plural(len(d.GetMoves())))
	printMoves(w, d)
	fmt.Fprintln(w)
	if err := printLeaders(w, d, "LEADERS AFTER"); err != nil {
		return err
	}
	if len(d.GetWarnings()) > 0 {
		fmt.Fprintln(w, "\nwarnings (the cluster refuses to run this drill):")
		for _, s := range d.GetWarnings() {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}

func printMoves(w io.Writer, d *pb.Drill) {
	if len(d.GetMoves()) == 0 {
		fmt.Fprintln(w, "  no cell to move")
	}
	for _, m := range d.GetMoves() {
		fmt.Fprintf(w, "  cell %d: %s -> %s\n", m.GetCellId(), nodeSite(m.GetFromNode(), m.GetFromSite()), nodeSite(m.GetToNode(), m.GetToSite()))
	}
}

// printLeaders prints the leaders per site before and after a drill;
// after names the after column.
func printLeaders(w io.Writer, d *pb.Drill, after string) error {
	afters := map[string]*pb.SiteLeaders{}
	for _, l := range d.GetLeadersAfter() {
		afters[l.GetSite()] = l
	}
	var sites []string
	for _, l := range d.GetLeadersBefore() {
		sites = append(sites, l.GetSite())
	}
	for _, l := range d.GetLeadersAfter() {
		if !slices.Contains(sites, l.GetSite()) {
			sites = append(sites, l.GetSite())
		}
	}
	before := map[string]*pb.SiteLeaders{}
	for _, l := range d.GetLeadersBefore() {
		before[l.GetSite()] = l
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SITE\tLEADERS BEFORE\t%s\tLEADERS MAX\n", after)
	for _, s := range sites {
		limit := max(before[s].GetLeadersMax(), afters[s].GetLeadersMax())
		maxText := "-"
		if limit > 0 {
			maxText = fmt.Sprint(limit)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s, before[s].GetLeaders(), afters[s].GetLeaders(), maxText)
	}
	return tw.Flush()
}

// printDrill summarizes a drill: its state, per move the result and the
// time it took, the client-visible errors and the leaders per site.
func printDrill(w io.Writer, d *pb.Drill) error {
	head := fmt.Sprintf("drill %s: %s, by %s: %s", d.GetId(), drillTitle(d), d.GetOperator(), drillStateName(d.GetState()))
	started, finished := d.GetStartedAtUnixMs(), d.GetFinishedAtUnixMs()
	switch {
	case finished > 0 && started > 0:
		head += " in " + seconds(time.Duration(finished-started)*time.Millisecond)
	case started > 0:
		head += " since " + time.UnixMilli(started).UTC().Format(time.RFC3339)
	}
	fmt.Fprintln(w, head)
	if d.GetReason() != "" {
		fmt.Fprintf(w, "reason: %s\n", d.GetReason())
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tFROM\tTO\tRESULT\tTOOK")
	for _, m := range d.GetMoves() {
		result, took := moveStateName(m.GetState()), "-"
		if m.GetState() == pb.MoveState_MOVE_DONE {
			took = durationMs(m.GetDurationMs())
		}
		if m.GetError() != "" {
			result += ": " + m.GetError()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", m.GetCellId(), nodeSite(m.GetFromNode(), m.GetFromSite()), nodeSite(m.GetToNode(), m.GetToSite()), result, took)
	}
	if len(d.GetMoves()) == 0 {
		fmt.Fprintln(tw, "-\t\t\tno cell to move\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nclient-visible errors during the drill: %d\n\n", d.GetClientErrors())
	// The cluster counts the leaders again when a drill succeeds or fails;
	// otherwise (running, aborted) the after column is the plan's.
	after := "PLANNED AFTER"
	if st := d.GetState(); st == pb.DrillState_DRILL_SUCCEEDED || st == pb.DrillState_DRILL_FAILED {
		after = "LEADERS AFTER"
	}
	return printLeaders(w, d, after)
}

// printMetaStatus prints the meta group's records: every site of the
// topology with its state, pins, the drill, events and audit entries.
func printMetaStatus(w io.Writer, topo *topology.Topology, ms *pb.MetaStatus) error {
	leader := ms.GetMetaLeaderId()
	if leader == "" {
		leader = "unknown"
	}
	fmt.Fprintf(w, "meta leader %s (answered by %s)\n\n", leader, ms.GetAnsweredBy())
	records := map[string]*pb.SiteRecord{}
	for _, s := range ms.GetSites() {
		records[s.GetSite()] = s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSTATE\tSINCE\tREASON")
	for _, s := range topo.Sites() {
		rec, state, since, reason := records[s.ID], "healthy", "-", "-"
		if rec != nil {
			state = siteStateName(rec.GetState())
			if rec.GetSinceUnixMs() > 0 {
				since = time.UnixMilli(rec.GetSinceUnixMs()).UTC().Format(time.RFC3339)
			}
			if rec.GetReason() != "" {
				reason = rec.GetReason()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, state, since, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ms.GetPins()) > 0 {
		fmt.Fprintln(w)
	}
	for _, p := range ms.GetPins() {
		fmt.Fprintf(w, "cell %d is pinned to %s\n", p.GetCellId(), p.GetSite())
	}
	fmt.Fprintln(w)
	if ms.GetDrill() == nil {
		fmt.Fprintln(w, "no drill has run")
	} else if err := printDrill(w, ms.GetDrill()); err != nil {
		return err
	}
	if len(ms.GetEvents()) > 0 {
		fmt.Fprintf(w, "\nEVENTS (newest %d)\n", len(ms.GetEvents()))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tKIND\tSITE\tCELL\tMOVE\tTOOK\tREASON")
		for _, e := range ms.GetEvents() {
			cellText, move, took := "-", "-", "-"
			if e.GetCellId() != 0 {
				cellText = fmt.Sprint(e.GetCellId())
			}
			if e.GetFromNode() != "" || e.GetToNode() != "" {
				move = e.GetFromNode() + " -> " + e.GetToNode()
			}
			if e.GetDurationMs() != 0 {
				took = durationMs(e.GetDurationMs())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", time.UnixMilli(e.GetAtUnixMs()).UTC().Format(time.RFC3339), e.GetKind(),
				dash(e.GetSite()), cellText, move, took, dash(e.GetReason()))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(ms.GetAudit()) > 0 {
		fmt.Fprintf(w, "\nAUDIT (newest %d)\n", len(ms.GetAudit()))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tOPERATOR\tACTION\tOUTCOME\tDETAIL")
		for _, a := range ms.GetAudit() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", time.UnixMilli(a.GetAtUnixMs()).UTC().Format(time.RFC3339), a.GetOperator(), a.GetAction(), a.GetOutcome(), a.GetDetail())
		}
		return tw.Flush()
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
