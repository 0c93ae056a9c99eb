package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
)

// The live view: one status line per phase of the story (time since the
// start, phase, throughput, client-visible errors so far, cells led per
// site, a note). On a terminal the current phase's line is rewritten in
// place and kept when the next phase begins; otherwise each phase prints
// a plain line every StatusInterval and one when it ends, so a CI log
// reads as the same table.

const (
	// liveTick is how often a terminal's line is redrawn.
	liveTick = 500 * time.Millisecond
	// rateWindow is the span of the live throughput.
	rateWindow = 2 * time.Second
	// lineRunesMax keeps a line on an 80-column terminal: a longer one
	// would wrap and the carriage return could no longer rewrite it.
	lineRunesMax = 79
	// phaseRunes is the width of the phase column.
	phaseRunes = 12
)

// status draws the status lines. Its methods are safe for concurrent use.
type status struct {
	out      io.Writer
	live     bool
	interval time.Duration
	start    time.Time

	mu        sync.Mutex
	c         *cluster.Cluster // nil until started: no leaders column
	h         *history.History // the current history (nil before traffic)
	base      tally            // of the histories before h (chaos.Traffic rounds)
	phase     string           // "" before the first phase
	note      string           // fixed note of the phase ("" shows where cells lead)
	traffic   bool             // the workload runs in this phase
	phaseAt   time.Time        //
	phaseOps  int              // ops completed when the phase began
	samples   []sample         // recent completed counts, for the rate
	lastPrint time.Time        // plain mode: when a line was last printed
	headed    bool             // the column header is printed
	stop      chan struct{}
	done      chan struct{}
}

type sample struct {
	at        time.Time
	completed int
}

func newStatus(out io.Writer, live bool, interval time.Duration, start time.Time) *status {
	s := &status{out: out, live: live, interval: interval, start: start, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *status) loop() {
	defer close(s.done)
	t := time.NewTicker(liveTick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

func (s *status) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == "" {
		return
	}
	t := s.tallyLocked()
	s.samples = append(s.samples, sample{at: now, completed: t.completed})
	for len(s.samples) > 1 && now.Sub(s.samples[0].at) > rateWindow {
		s.samples = s.samples[1:]
	}
	switch {
	case s.live:
		s.drawLocked(now, t, false)
	case now.Sub(s.lastPrint) >= s.interval:
		s.drawLocked(now, t, false)
	}
}

// setCluster gives the leaders column its cluster.
func (s *status) setCluster(c *cluster.Cluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c = c
}

// observe switches to history h (chaos.Options.Observe, chaos.Traffic).
func (s *status) observe(h *history.History) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h != nil {
		s.base = s.base.plus(tallyOps(s.h.Ops(), nil))
	}
	s.h = h
}

// enter ends the current phase with its final line and begins phase name,
// in which the workload runs (traffic: the throughput column is shown) or
// not.
func (s *status) enter(name, note string, traffic bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	t := s.tallyLocked()
	s.endLocked(now, t)
	if !s.headed {
		fmt.Fprintf(s.out, "%5s  %-*s %5s %6s  %s\n", "time", phaseRunes, "phase", "ops/s", "errors", "cells led per site")
		s.headed = true
	}
	s.phase, s.note, s.traffic, s.phaseAt, s.phaseOps = name, note, traffic, now, t.completed
	s.samples = []sample{{at: now, completed: t.completed}}
	s.lastPrint = now
	if s.live {
		s.drawLocked(now, t, false)
	}
}

// setNote changes the current phase's note.
func (s *status) setNote(note string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.note = note
}

// close ends the current phase with its final line and stops redrawing.
func (s *status) close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(time.Now(), s.tallyLocked())
	s.phase = ""
}

// progress maps chaos.Run's phase lines onto the story's phases; once ctx
// ends, the run hurries through them to stop, which is one phase.
func (s *status) progress(ctx context.Context, scenario string) func(string) {
	return func(line string) {
		if ctx.Err() != nil {
			s.mu.Lock()
			same := s.phase == "stopping"
			s.mu.Unlock()
			if !same {
				s.enter("stopping", "interrupted", false)
			}
			return
		}
		word, rest, _ := strings.Cut(line, ":")
		rest = strings.TrimSpace(rest)
		switch word {
		case "setup":
			s.mu.Lock()
			same := s.phase == "setup"
			s.mu.Unlock()
			if same {
				s.setNote(setupNote(rest))
			} else {
				s.enter("setup", setupNote(rest), true)
			}
		case "traffic":
			s.enter("steady", "", true)
		case "fault":
			s.enter(strings.ReplaceAll(scenario, "-", " "), "", true)
		case "healed":
			s.enter("repaired", "", true)
		case "heal failed":
			s.enter("HEAL FAILED", rest, true)
		case "quiet":
			s.enter("checks", "checking history", false)
		}
	}
}

func setupNote(rest string) string {
	switch {
	case strings.HasPrefix(rest, "waiting"):
		return "moving leaders home"
	case strings.HasPrefix(rest, "creating"):
		return "funding accounts"
	}
	return rest
}

// endLocked prints the current phase's final line: its average throughput.
func (s *status) endLocked(now time.Time, t tally) {
	if s.phase == "" {
		return
	}
	s.drawLocked(now, t, true)
}

// drawLocked prints the current phase's line: final, with the phase's
// average throughput and a newline; else with the recent throughput (on a
// terminal without a newline, to be rewritten).
func (s *status) drawLocked(now time.Time, t tally, final bool) {
	rate := "-"
	if s.h != nil && s.traffic {
		from := sample{at: s.phaseAt, completed: s.phaseOps}
		if !final && len(s.samples) > 0 {
			from = s.samples[0]
		}
		if d := now.Sub(from.at).Seconds(); d > 0.2 {
			rate = fmt.Sprintf("%.0f", float64(t.completed-from.completed)/d)
		}
	}
	errs := "-"
	if s.h != nil {
		errs = fmt.Sprint(t.clientErrors())
	}
	leaders, away, none := s.leadersLocked()
	note := s.note
	if note == "" && s.c != nil {
		switch {
		case none > 0:
			note = fmt.Sprintf("%d without leader", none)
		case away == 0:
			note = "all cells home"
		case away == 1:
			note = "1 cell away"
		default:
			note = fmt.Sprintf("%d cells away", away)
		}
	}
	text := fmt.Sprintf("%5s  %-*s %5s %6s  %s  %s", clock(now.Sub(s.start)), phaseRunes, s.phase, rate, errs, leaders, note)
	text = strings.TrimRight(text, " ")
	if s.live {
		text = cut(text, lineRunesMax)
		fmt.Fprint(s.out, "\r\x1b[K"+text)
		if final {
			fmt.Fprint(s.out, "\n")
		}
		return
	}
	fmt.Fprintln(s.out, text)
	s.lastPrint = now
}

// leadersLocked is "hz-a 4 · hz-b 4 · sh-a 4" (cells led in each site),
// how many cells lead away from their home site or have no leader, and
// how many have none.
func (s *status) leadersLocked() (string, int, int) {
	if s.c == nil {
		return "", 0, 0
	}
	topo := s.c.Topology
	counts := map[string]int{}
	none, away := 0, 0
	for _, cl := range topo.Cells() {
		n, ok := topo.Node(s.c.Leader(cl.ID))
		switch {
		case !ok:
			none++
			away++
		case n.Site != cl.Home:
			away++
			counts[n.Site]++
		default:
			counts[n.Site]++
		}
	}
	var parts []string
	for _, site := range topo.Sites() {
		parts = append(parts, fmt.Sprintf("%s %d", site.ID, counts[site.ID]))
	}
	return strings.Join(parts, " · "), away, none
}

func (s *status) tallyLocked() tally {
	if s.h == nil {
		return s.base
	}
	return s.base.plus(tallyOps(s.h.Ops(), nil))
}

// clock formats d as m:ss.
func clock(d time.Duration) string {
	sec := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// cut shortens s to runes runes, ending it with "…".
func cut(s string, runes int) string {
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes-1]) + "…"
}
