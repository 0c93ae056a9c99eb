package meta

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// expectRecords fails the test unless got and want hold equal messages in
// the same order.
func expectRecords[T proto.Message](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestSetSiteKeepsTheLatestRecordOfEachSite(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	if s := read(t, g, 0, 0); len(s.Sites) != 0 {
		t.Fatalf("a new meta group has sites %v", s.Sites)
	}
	longest := strings.Repeat("s", siteIDLengthMax) // The longest id still accepted.
	mustApply(t, g, asController(t, g, setSiteCmd(10, "sh-a", pb.SiteState_SITE_HEALTHY)))
	mustApply(t, g, asController(t, g, setSiteCmd(11, "hz-a", pb.SiteState_SITE_SUSPECT)))
	mustApply(t, g, asController(t, g, setSiteCmd(12, "hz-a", pb.SiteState_SITE_DOWN)))
	mustApply(t, g, asController(t, g, setSiteCmd(13, longest, pb.SiteState_SITE_DRAINED)))

	// Each record is stamped with its version and its controller's term.
	term := leaderTerm(t, g)
	expectRecords(t, "sites", read(t, g, 0, 0).Sites, []*pb.SiteRecord{
		{Site: "hz-a", State: pb.SiteState_SITE_DOWN, SinceUnixMs: 12, Reason: "test", Version: 2, ControllerTerm: term},
		{Site: "sh-a", State: pb.SiteState_SITE_HEALTHY, SinceUnixMs: 10, Reason: "test", Version: 1, ControllerTerm: term},
		{Site: longest, State: pb.SiteState_SITE_DRAINED, SinceUnixMs: 13, Reason: "test", Version: 1, ControllerTerm: term},
	})
}

func TestPinAndUnpin(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	// Cell ids whose decimal and byte orders differ: 300 > 10 > 2.
	mustApply(t, g, asController(t, g, pinCmd(1, 300, "sh-a")))
	mustApply(t, g, asController(t, g, pinCmd(2, 2, "hz-a")))
	mustApply(t, g, asController(t, g, pinCmd(3, 10, "hz-b")))
	mustApply(t, g, asController(t, g, pinCmd(4, 300, "hz-b"))) // Re-pins cell 300.
	expectRecords(t, "pins", read(t, g, 0, 0).Pins, []*pb.CellPin{
		{CellId: 2, Site: "hz-a"}, {CellId: 10, Site: "hz-b"}, {CellId: 300, Site: "hz-b"},
	})

	mustApply(t, g, asController(t, g, pinCmd(5, 10, "")))  // Unpins cell 10.
	mustApply(t, g, asController(t, g, pinCmd(6, 999, ""))) // Unpinning a cell never pinned is no error.
	expectRecords(t, "pins after unpinning", read(t, g, 0, 0).Pins, []*pb.CellPin{
		{CellId: 2, Site: "hz-a"}, {CellId: 300, Site: "hz-b"},
	})
}

func TestEventsGetASequenceNumberAndTheLeadersClock(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	first := eventCmd(100, "site_state", "hz-a down")
	first.GetEvent().Seq = 42 // The proposer's seq is ignored.
	if r := mustApply(t, g, first); r.Seq != 1 {
		t.Fatalf("first event: seq %d, want 1", r.Seq)
	}
	second := eventCmd(200, "decision", "move cell 1")
	second.GetEvent().AtUnixMs = 150 // An event keeps its own time when it has one.
	second.GetEvent().CellId = 1
	if r := mustApply(t, g, second); r.Seq != 2 {
		t.Fatalf("second event: seq %d, want 2", r.Seq)
	}

	want := []*pb.MetaEvent{
		{Seq: 1, AtUnixMs: 100, Kind: "site_state", Reason: "hz-a down"},
		{Seq: 2, AtUnixMs: 150, Kind: "decision", Reason: "move cell 1", CellId: 1},
	}
	expectRecords(t, "events", read(t, g, 10, 0).Events, want)
	expectRecords(t, "the newest event", read(t, g, 1, 0).Events, want[1:])
	if s := read(t, g, 0, 0); len(s.Events) != 0 {
		t.Fatalf("Read with eventsMax 0 returned events %v", s.Events)
	}
	if s := read(t, g, -1, 0); len(s.Events) != 0 {
		t.Fatalf("Read with eventsMax -1 returned events %v", s.Events)
	}
}

func TestEventsBeyondEventsMaxDropTheOldest(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	const firstCount, lastCount = 3, 2
	for i := range firstCount {
		mustApply(t, g, eventCmd(1, "first", fmt.Sprint(i+1)))
	}
	// Fill up to EventsMax in batches, as raft hands the FSM several
	// committed proposals at once: a command sees the batch's earlier ones.
	const batchMax = 16
	fillers := EventsMax - firstCount
	for start := 0; start < fillers; start += batchMax {
		var batch [][]byte
		for i := start; i < min(start+batchMax, fillers); i++ {
			data, err := proto.Marshal(eventCmd(2, "filler", fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, data)
		}
		for i, out := range g.ApplyBatch(batch...) {
			if r := out.(Result); r.Err != nil {
				t.Fatalf("filler %d: %v", start+i, r.Err)
			}
		}
	}
	full := read(t, g, readAllMax, 0).Events
	if len(full) != EventsMax || full[0].GetKind() != "first" || full[0].GetSeq() != 1 {
		t.Fatalf("at EventsMax: %d events, the oldest %v; want %d from seq 1", len(full), full[0], EventsMax)
	}

	for i := range lastCount {
		r := mustApply(t, g, eventCmd(3, "last", fmt.Sprint(i+1)))
		if want := uint64(EventsMax + i + 1); r.Seq != want {
			t.Fatalf("event past EventsMax: seq %d, want %d", r.Seq, want)
		}
	}
	events := read(t, g, readAllMax, 0).Events
	if len(events) != EventsMax {
		t.Fatalf("%d events kept, want EventsMax (%d)", len(events), EventsMax)
	}
	// The two oldest are gone, the rest in order without a gap.
	for i, ev := range events {
		if want := uint64(lastCount + 1 + i); ev.GetSeq() != want {
			t.Fatalf("events[%d] has seq %d, want %d", i, ev.GetSeq(), want)
		}
	}
	if oldest := events[0]; oldest.GetKind() != "first" || oldest.GetReason() != "3" {
		t.Fatalf("the oldest event kept is %v, want the third first one", oldest)
	}
	if newest := events[len(events)-1]; newest.GetKind() != "last" || newest.GetReason() != "2" {
		t.Fatalf("the newest event is %v, want the second last one", newest)
	}
	newest := read(t, g, 5, 0).Events
	for i, ev := range newest {
		if want := uint64(EventsMax + lastCount - 4 + i); ev.GetSeq() != want {
			t.Fatalf("Read(5, 0)[%d] has seq %d, want %d", i, ev.GetSeq(), want)
		}
	}
	if len(newest) != 5 {
		t.Fatalf("Read(5, 0) returned %d events", len(newest))
	}
}

func TestAuditLogIsAppendOnlyInOrder(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	var want []*pb.AuditEntry
	for i := range 5 {
		cmd := auditCmd(int64(10+i), "alice", fmt.Sprintf("drill %d", i))
		cmd.GetAudit().Seq, cmd.GetAudit().AtUnixMs = 77, 999 // Both are the FSM's to stamp.
		if r := mustApply(t, g, cmd); r.Seq != uint64(i+1) {
			t.Fatalf("audit %d: seq %d, want %d", i, r.Seq, i+1)
		}
		// Events have their own sequence: they do not shift the audit's.
		mustApply(t, g, eventCmd(1, "drill_started", fmt.Sprint(i)))
		want = append(want, &pb.AuditEntry{
			Seq: uint64(i + 1), AtUnixMs: int64(10 + i), Operator: "alice",
			Action: fmt.Sprintf("drill %d", i), Detail: fmt.Sprintf("detail of drill %d", i), Outcome: "started",
		})
	}
	expectRecords(t, "audit", read(t, g, 0, 100).Audit, want)
	expectRecords(t, "the newest two audit entries", read(t, g, 0, 2).Audit, want[3:])
	if s := read(t, g, 0, 0); len(s.Audit) != 0 {
		t.Fatalf("Read with auditMax 0 returned %v", s.Audit)
	}

	// The same entry again is a new entry: nothing is replaced or dropped.
	again := auditCmd(20, "alice", "drill 0")
	if r := mustApply(t, g, again); r.Seq != 6 {
		t.Fatalf("repeated audit entry: seq %d, want 6", r.Seq)
	}
	want = append(want, &pb.AuditEntry{Seq: 6, AtUnixMs: 20, Operator: "alice", Action: "drill 0", Detail: "detail of drill 0", Outcome: "started"})
	expectRecords(t, "audit after a repeated entry", read(t, g, 0, 100).Audit, want)
}

func TestPutDrillReplacesTheDrill(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	if d := read(t, g, 0, 0).Drill; d != nil {
		t.Fatalf("a new meta group has drill %v", d)
	}
	mustApply(t, g, asController(t, g, drillCmd(1, "d1", pb.DrillState_DRILL_RUNNING)))
	if d := read(t, g, 0, 0).Drill; d.GetId() != "d1" || d.GetState() != pb.DrillState_DRILL_RUNNING {
		t.Fatalf("drill = %v, want d1 running", d)
	}
	mustApply(t, g, asController(t, g, drillCmd(2, "d1", pb.DrillState_DRILL_SUCCEEDED)))
	mustApply(t, g, asController(t, g, drillCmd(3, "d2", pb.DrillState_DRILL_PLANNED)))
	want := &pb.Drill{Id: "d2", Kind: "evacuate", Site: "hz-a", Operator: "alice", State: pb.DrillState_DRILL_PLANNED, StartedAtUnixMs: 3}
	if d := read(t, g, 0, 0).Drill; !proto.Equal(d, want) {
		t.Fatalf("drill = %v, want the last one put %v", d, want)
	}
}

// invalidCommands are commands Apply must refuse, by name.
func invalidCommands(t testing.TB) map[string][]byte {
	t.Helper()
	marshal := func(cmd *pb.MetaCommand) []byte {
		b, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	noAction := auditCmd(1, "alice", "")
	noOperator := auditCmd(1, "", "drill")
	return map[string][]byte{
		"garbage":                {0xff, 0xff, 0xff},
		"truncated":              marshal(setSiteCmd(1, "hz-a", pb.SiteState_SITE_DOWN))[:5],
		"empty":                  {},
		"no operation":           marshal(&pb.MetaCommand{AtUnixMs: 5}),
		"site without id":        marshal(setSiteCmd(1, "", pb.SiteState_SITE_DOWN)),
		"site id too long":       marshal(setSiteCmd(1, strings.Repeat("s", siteIDLengthMax+1), pb.SiteState_SITE_DOWN)),
		"site without state":     marshal(setSiteCmd(1, "hz-a", pb.SiteState_SITE_STATE_UNSPECIFIED)),
		"empty site record":      marshal(&pb.MetaCommand{Op: &pb.MetaCommand_SetSite{SetSite: &pb.SiteRecord{}}}),
		"site id not UTF-8":      {0x12, 0x05, 0x0a, 0x01, 0xff, 0x10, 0x03}, // set_site {site: "\xff", state: SITE_DOWN}
		"pin of cell 0":          marshal(pinCmd(1, 0, "hz-a")),
		"unpin of cell 0":        marshal(pinCmd(1, 0, "")),
		"event without kind":     marshal(eventCmd(1, "", "why")),
		"empty event":            marshal(&pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: &pb.MetaEvent{}}}),
		"audit without action":   marshal(noAction),
		"audit without operator": marshal(noOperator),
		"drill without id":       marshal(drillCmd(1, "", pb.DrillState_DRILL_RUNNING)),
	}
}

func TestRejectedCommandsChangeNothing(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	mustApply(t, g, asController(t, g, setSiteCmd(1, "hz-a", pb.SiteState_SITE_HEALTHY)))
	mustApply(t, g, asController(t, g, pinCmd(1, 7, "hz-b")))
	mustApply(t, g, eventCmd(1, "site_state", "a"))
	mustApply(t, g, auditCmd(1, "alice", "drill"))
	mustApply(t, g, asController(t, g, drillCmd(1, "d1", pb.DrillState_DRILL_RUNNING)))
	before := render(read(t, g, readAllMax, readAllMax))

	for name, data := range invalidCommands(t) {
		r := applyData(t, g, data)
		if !errors.Is(r.Err, ErrInvalidCommand) {
			t.Errorf("%s: result %+v, want an ErrInvalidCommand", name, r)
		}
		if r.Seq != 0 {
			t.Errorf("%s: refused, yet given seq %d", name, r.Seq)
		}
		if after := render(read(t, g, readAllMax, readAllMax)); after != before {
			t.Fatalf("%s: a refused command changed the state from\n%s\nto\n%s", name, before, after)
		}
	}
	// Refused events and audit entries used no sequence number.
	if r := mustApply(t, g, eventCmd(2, "site_state", "b")); r.Seq != 2 {
		t.Errorf("the next event got seq %d, want 2", r.Seq)
	}
	if r := mustApply(t, g, auditCmd(2, "alice", "drill")); r.Seq != 2 {
		t.Errorf("the next audit entry got seq %d, want 2", r.Seq)
	}
}
