package failover

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Transcript tests, in the manner of etcd-io/raft's testdata: each file of
// testdata/*.txt is a script of steps, each a command line, optional input
// lines, a line "----", and the expected output up to a blank line. The
// driver feeds the commands to PlanDrill, AbortDrillState, the
// MoveTracker and the RTOTracker, renders their decisions as text and
// compares. Lines starting with # are comments.
//
// After a change of behaviour, regenerate the expected parts with
//
//	go test ./router/failover/ -run TestTranscripts -rewrite
//
// and read the diff before keeping it: it is the change of every decision.
//
// Commands (durations are Go durations; times are offsets from t0):
//
//	sites                      input: "<site> <region> [leaders_max=N]"
//	cells                      input: "<id> home=<site> leader=<node>|none
//	                           [replicas=<node>,...] [stale=<node>] [behind=<node>:<N>]"
//	                           (default replicas: <site>-1 in every site; a node's
//	                           site is its name without the last "-N")
//	state                      input: "site <site> <state> [failures=N] [since=<offset>]"
//	                           or "pin <cell> <site>"
//	advance <duration>         moves the clock
//	plan kind=<kind> [site=S] [cell=N] [target=S] [by=OP] [dry-run]
//	                           PlanDrill; an accepted real drill is adopted
//	                           (its state, and it runs until finish or abort)
//	abort [by=OP]              AbortDrillState of the running drill
//	finish                     the running drill ends
//	suspect site=S             RTOTracker.WatchFault over the cells
//	move-start cell=N kind=K   MoveTracker.Started
//	move-end cell=N to=NODE took=D [failed]
//	                           MoveTracker.Finished at now
//	moving                     MoveTracker.Moving at now
//	completed                  MoveTracker.TakeCompleted, fed to RTOTracker.WatchMove
//	observe                    input: "cell=N leader=NODE at=<offset>", the routers'
//	                           first writes; RTOTracker.Observe at now
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt transcripts")

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runTranscript(t, file) })
	}
}

// scriptStep is one command of a transcript, with the lines before it
// (comments, blank lines) kept for rewriting.
type scriptStep struct {
	line     int
	pre      []string
	command  string
	input    []string
	expected []string
}

// parseTranscript splits a transcript into steps; trailing lines after the
// last scriptStep are returned apart.
func parseTranscript(t *testing.T, file string, text string) ([]scriptStep, []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var steps []scriptStep
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		s := scriptStep{line: i + 1, pre: pre, command: l}
		pre = nil
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			s.input = append(s.input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: %q has no ---- line", file, s.line, s.command)
		}
		for i++; i < len(lines) && lines[i] != ""; i++ {
			s.expected = append(s.expected, lines[i])
		}
		steps = append(steps, s)
	}
	return steps, pre
}

func runTranscript(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	steps, trail := parseTranscript(t, file, string(b))
	w := newWorld()
	var out strings.Builder
	failed := false
	for _, s := range steps {
		got := w.do(s)
		if !*rewrite && strings.Join(got, "\n") != strings.Join(s.expected, "\n") {
			failed = true
			t.Errorf("%s:%d: %s\n--- got:\n%s\n--- want:\n%s", file, s.line, s.command, strings.Join(got, "\n"), strings.Join(s.expected, "\n"))
		}
		for _, l := range s.pre {
			out.WriteString(l + "\n")
		}
		out.WriteString(s.command + "\n")
		for _, l := range s.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range got {
			out.WriteString(l + "\n")
		}
		out.WriteString("\n")
	}
	for _, l := range trail {
		if strings.TrimSpace(l) != "" {
			out.WriteString(l + "\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if failed {
		t.Logf("if the new output is right, rerun with -rewrite and read the diff")
	}
}

// world is a transcript's state: the topology as Input, the controller's
// State, the clock, the running drill and the trackers.
type world struct {
	cfg     Config
	now     time.Time
	sites   []Site
	cells   []CellView
	st      State
	running *Drill
	moves   *MoveTracker
	rto     *RTOTracker
}

func newWorld() *world {
	return &world{cfg: DefaultConfig(), now: t0, st: State{Sites: map[string]SiteStatus{}, Pins: map[uint64]string{},
		BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}},
		moves: NewMoveTracker(time.Second, 700*time.Millisecond), rto: NewRTOTracker(FirstWriteWaitMax)}
}

func (w *world) input() Input {
	return Input{Now: w.now, Sites: w.sites, Cells: w.cells, Moving: map[uint64]MoveKind{}}
}

// args are a command's key=value arguments; a bare word is a flag.
type args map[string]string

func parseArgs(fields []string) args {
	a := args{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		a[k] = v
	}
	return a
}

func (a args) has(k string) bool { _, ok := a[k]; return ok }

func (a args) uint(k string) uint64 {
	n, err := strconv.ParseUint(a[k], 10, 64)
	if err != nil && a.has(k) {
		return 1<<64 - 1 // unparsable: no such cell
	}
	return n
}

func (a args) duration(k string) time.Duration {
	d, _ := time.ParseDuration(a[k])
	return d
}

func siteOf(node string) string {
	if i := strings.LastIndex(node, "-"); i > 0 {
		return node[:i]
	}
	return node
}

func at(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "t0+" + t.Sub(t0).String()
}

// do runs one scriptStep and returns its output lines.
func (w *world) do(s scriptStep) []string {
	fields := strings.Fields(s.command)
	a := parseArgs(fields[1:])
	switch fields[0] {
	case "sites":
		w.sites = nil
		for _, l := range s.input {
			f := strings.Fields(l)
			site := Site{ID: f[0], Region: f[1]}
			if n, err := strconv.Atoi(parseArgs(f[2:])["leaders_max"]); err == nil {
				site.LeadersMax = n
			}
			w.sites = append(w.sites, site)
		}
		return nil
	case "cells":
		w.cells = nil
		for _, l := range s.input {
			w.cells = append(w.cells, w.parseCell(l))
		}
		return nil
	case "state":
		for _, l := range s.input {
			if out := w.setState(l); out != "" {
				return []string{out}
			}
		}
		return nil
	case "advance":
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		w.now = w.now.Add(d)
		return nil
	case "plan":
		return w.plan(a)
	case "abort":
		if w.running == nil {
			return []string{"no drill is running"}
		}
		d := *w.running
		next := AbortDrillState(w.st, d.Kind, d.Site, d.CellID, a["by"], w.now)
		out := append([]string{"aborted " + d.ID}, stateDiff(w.st, next)...)
		w.st, w.running = next, nil
		return out
	case "finish":
		w.running = nil
		return nil
	case "suspect":
		return []string{"watching cells " + ids(w.rto.WatchFault(a["site"], w.cells, w.now))}
	case "move-start":
		w.moves.Started(a.uint("cell"), MoveKind(a["kind"]))
		return nil
	case "move-end":
		w.moves.Finished(a.uint("cell"), a["to"], !a.has("failed"), w.now, a.duration("took"))
		return nil
	case "moving":
		m := w.moves.Moving(w.now)
		if len(m) == 0 {
			return []string{"none"}
		}
		var out []string
		for id, kind := range m {
			out = append(out, fmt.Sprintf("cell %d %s", id, kind))
		}
		sort.Strings(out)
		return out
	case "completed":
		var out []string
		for _, m := range w.moves.TakeCompleted() {
			watched := "watched"
			if !w.rto.WatchMove(m.Cell, m.Start, m.ToNode) {
				watched = "not watched (a fault's watch covers it)"
			}
			out = append(out, fmt.Sprintf("cell %d to %s from %s took %s: %s", m.Cell, m.ToNode, at(m.Start), m.Duration, watched))
		}
		if len(out) == 0 {
			return []string{"none"}
		}
		return out
	case "observe":
		var writes []Write
		for _, l := range s.input {
			f := parseArgs(strings.Fields(l))
			writes = append(writes, Write{Cell: f.uint("cell"), LeaderNode: f["leader"], LeaderSite: siteOf(f["leader"]), At: t0.Add(f.duration("at"))})
		}
		measured, expired := w.rto.Observe(w.now, writes)
		var out []string
		for _, m := range measured {
			out = append(out, fmt.Sprintf("first_write cell %d by %s at %s: rto %s (%s, %s)", m.Cell, m.By, at(m.At), m.Duration, m.Cause, m.Reason))
		}
		for _, e := range expired {
			out = append(out, fmt.Sprintf("expired cell %d since %s (%s, %s)", e.Cell, at(e.Since), e.Cause, e.Reason))
		}
		return append(out, fmt.Sprintf("watching %d", w.rto.Watching()))
	}
	return []string{"unknown command " + fields[0]}
}

func ids(ids []uint64) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ", ")
}

func (w *world) parseCell(l string) CellView {
	f := strings.Fields(l)
	id, _ := strconv.ParseUint(f[0], 10, 64)
	a := parseArgs(f[1:])
	c := CellView{ID: id, Home: a["home"]}
	var nodes []string
	if a.has("replicas") {
		nodes = strings.Split(a["replicas"], ",")
	} else {
		for _, s := range w.sites {
			nodes = append(nodes, s.ID+"-1")
		}
	}
	behindNode, behindBy, _ := strings.Cut(a["behind"], ":")
	lag, _ := strconv.ParseUint(behindBy, 10, 64)
	for _, n := range nodes {
		r := Replica{Node: n, Site: siteOf(n), Fresh: n != a["stale"], Leader: n == a["leader"], Term: 3, Applied: 1000}
		if n == behindNode {
			r.Applied -= lag
		}
		c.Replicas = append(c.Replicas, r)
	}
	return c
}

var stateNames = map[string]SiteState{"healthy": Healthy, "suspect": Suspect, "down": Down, "drained": Drained}

func (w *world) setState(l string) string {
	f := strings.Fields(l)
	switch {
	case len(f) >= 3 && f[0] == "site":
		st, ok := stateNames[f[2]]
		if !ok {
			return "unknown state " + f[2]
		}
		a := parseArgs(f[3:])
		n, _ := strconv.Atoi(a["failures"])
		s := SiteStatus{State: st, Failures: n, Reason: "transcript"}
		if a.has("since") {
			s.Since = t0.Add(a.duration("since"))
		}
		w.st.Sites[f[1]] = s
	case len(f) == 3 && f[0] == "pin":
		id, _ := strconv.ParseUint(f[1], 10, 64)
		w.st.Pins[id] = f[2]
	default:
		return "bad state line " + l
	}
	return ""
}

func (w *world) plan(a args) []string {
	req := DrillRequest{Kind: DrillKind(a["kind"]), Site: a["site"], CellID: a.uint("cell"), TargetSite: a["target"],
		Operator: a["by"], DryRun: a.has("dry-run")}
	running := RunningDrill{}
	if w.running != nil {
		running = RunningDrill{ID: w.running.ID, Detail: w.running.Detail()}
	}
	before := w.st.Clone()
	d, next, err := PlanDrill(w.cfg, w.st, w.input(), req, running, w.now)
	var out []string
	if err != nil {
		r, ok := err.(*DrillRefusal)
		if !ok {
			return []string{"error: " + err.Error()}
		}
		out = append(out, fmt.Sprintf("refused %s: %s", r.Reason, r.Detail))
	}
	if !sameState(before, w.st) {
		out = append(out, "BUG: PlanDrill modified its state")
	}
	if d.ID != "" {
		out = append(out, renderDrill(d)...)
	}
	if err != nil {
		return out
	}
	out = append(out, stateDiff(w.st, next)...)
	if !req.DryRun {
		next.BadSince, next.GoodSince = w.st.BadSince, w.st.GoodSince
		w.st, w.running = next, &d
		out = append(out, "running "+d.ID)
	}
	return out
}

func renderDrill(d Drill) []string {
	out := []string{fmt.Sprintf("drill %s by %s: %s", d.ID, d.Operator, d.Detail())}
	for _, m := range d.Moves {
		out = append(out, fmt.Sprintf("move cell %d %s (%s) -> %s (%s), %s: %s", m.Cell, m.FromNode, m.FromSite, m.ToNode, m.ToSite, m.Kind, m.Reason))
	}
	out = append(out, "leaders before: "+leaders(d.LeadersBefore), "leaders after: "+leaders(d.LeadersAfter))
	for _, warn := range d.Warnings {
		out = append(out, "warning: "+warn)
	}
	return out
}

func leaders(ls []SiteLeaders) string {
	var s []string
	for _, l := range ls {
		if l.LeadersMax > 0 {
			s = append(s, fmt.Sprintf("%s %d/%d", l.Site, l.Leaders, l.LeadersMax))
		} else {
			s = append(s, fmt.Sprintf("%s %d", l.Site, l.Leaders))
		}
	}
	return strings.Join(s, ", ")
}

// stateDiff renders what next changes of st: site states and pins.
func stateDiff(st, next State) []string {
	var out []string
	sites := map[string]bool{}
	for s := range st.Sites {
		sites[s] = true
	}
	for s := range next.Sites {
		sites[s] = true
	}
	var names []string
	for s := range sites {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		a, b := st.Sites[s], next.Sites[s]
		if a != b {
			out = append(out, fmt.Sprintf("site %s: %s -> %s since %s, failures %d (%s)", s, a.State, b.State, at(b.Since), b.Failures, b.Reason))
		}
	}
	cells := map[uint64]bool{}
	for id := range st.Pins {
		cells[id] = true
	}
	for id := range next.Pins {
		cells[id] = true
	}
	var pinned []uint64
	for id := range cells {
		pinned = append(pinned, id)
	}
	sort.Slice(pinned, func(i, j int) bool { return pinned[i] < pinned[j] })
	for _, id := range pinned {
		if a, b := st.Pins[id], next.Pins[id]; a != b {
			switch {
			case b == "":
				out = append(out, fmt.Sprintf("unpin cell %d (was %s)", id, a))
			default:
				out = append(out, fmt.Sprintf("pin cell %d to %s", id, b))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "state unchanged")
	}
	return out
}

func sameState(a, b State) bool {
	if len(a.Sites) != len(b.Sites) || len(a.Pins) != len(b.Pins) {
		return false
	}
	for k, v := range a.Sites {
		if b.Sites[k] != v {
			return false
		}
	}
	for k, v := range a.Pins {
		if b.Pins[k] != v {
			return false
		}
	}
	return true
}
