package meta

import (
	"crypto/sha256"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// stateDigest hashes every key and value of the group's state on g's
// replica: cheaper than Read for a fuzz loop, and blind to nothing.
func stateDigest(t testing.TB, g metaGroup) [sha256.Size]byte {
	t.Helper()
	h := sha256.New()
	err := g.Reader().Scan(nil, nil, func(k, v []byte) bool {
		for _, b := range [][]byte{k, v} {
			var n [8]byte
			for i := range n {
				n[i] = byte(len(b) >> (8 * i))
			}
			h.Write(n[:]) // Lengths first: ("ab", "c") differs from ("a", "bc").
			h.Write(b)
		}
		return true
	})
	if err != nil {
		t.Fatalf("scan the state: %v", err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// FuzzApply: no input panics the meta FSM; a refused input is an
// ErrInvalidCommand and changes nothing; an accepted one leaves a state Read
// can decode.
func FuzzApply(f *testing.F) {
	g := newMetaTwin(f)
	valid := []*pb.MetaCommand{
		asController(f, g, setSiteCmd(1, "hz-a", pb.SiteState_SITE_DOWN)),
		asController(f, g, pinCmd(2, 1, "sh-a")),
		asController(f, g, pinCmd(3, 1, "")),
		eventCmd(4, "site_state", "hz-a down"),
		auditCmd(5, "alice", "drill evacuate"),
		asController(f, g, drillCmd(6, "d1", pb.DrillState_DRILL_RUNNING)),
	}
	for _, cmd := range valid {
		data, err := proto.Marshal(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, data := range invalidCommands(f) {
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		before := stateDigest(t, g)
		r := applyData(t, g, data)
		if r.Err != nil {
			if !errors.Is(r.Err, ErrInvalidCommand) {
				t.Fatalf("%x: refused with %v, want an ErrInvalidCommand", data, r.Err)
			}
			if r.Seq != 0 {
				t.Fatalf("%x: refused, yet given seq %d", data, r.Seq)
			}
			if stateDigest(t, g) != before {
				t.Fatalf("%x: refused (%v), yet the state changed", data, r.Err)
			}
			return
		}
		if _, err := Read(g.Reader(), EventsMax, EventsMax); err != nil {
			t.Fatalf("%x: accepted, then Read fails: %v", data, err)
		}
	})
}
