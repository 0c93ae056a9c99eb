package meta

import (
	"encoding/binary"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
)

// Snapshot is the meta group's state as read from one replica.
type Snapshot struct {
	Sites  []*pb.SiteRecord // sorted by site
	Pins   []*pb.CellPin    // sorted by cell
	Events []*pb.MetaEvent  // oldest first, the newest eventsMax
	Audit  []*pb.AuditEntry // oldest first, the newest auditMax
	Drill  *pb.Drill        // the running or last drill; nil if none
}

// Read reads the state from r, keeping the newest eventsMax events and
// auditMax audit entries (0: none).
func Read(r replication.Reader, eventsMax, auditMax int) (*Snapshot, error) {
	out := &Snapshot{}
	var decodeErr error
	decode := func(v []byte, m proto.Message) bool {
		if err := proto.Unmarshal(v, m); err != nil {
			decodeErr = fmt.Errorf("meta: corrupt record: %w", err)
			return false
		}
		return true
	}
	if err := r.Scan(keySitePrefix, prefixEnd(keySitePrefix), func(_, v []byte) bool {
		s := &pb.SiteRecord{}
		if !decode(v, s) {
			return false
		}
		out.Sites = append(out.Sites, s)
		return true
	}); err != nil {
		return nil, err
	}
	if err := r.Scan(keyPinPrefix, prefixEnd(keyPinPrefix), func(_, v []byte) bool {
		p := &pb.CellPin{}
		if !decode(v, p) {
			return false
		}
		out.Pins = append(out.Pins, p)
		return true
	}); err != nil {
		return nil, err
	}
	var err error
	if out.Events, err = tail(r, keyEventPrefix, keyEventSeq, eventsMax, func() *pb.MetaEvent { return &pb.MetaEvent{} }, decode); err != nil {
		return nil, err
	}
	if out.Audit, err = tail(r, keyAuditPrefix, keyAuditSeq, auditMax, func() *pb.AuditEntry { return &pb.AuditEntry{} }, decode); err != nil {
		return nil, err
	}
	if v, found, err := r.Get(keyDrill); err != nil {
		return nil, err
	} else if found {
		d := &pb.Drill{}
		if !decode(v, d) {
			return nil, decodeErr
		}
		out.Drill = d
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	sort.Slice(out.Sites, func(i, j int) bool { return out.Sites[i].GetSite() < out.Sites[j].GetSite() })
	return out, nil
}

// tail returns the last n records under prefix, oldest first. Records are
// numbered 1, 2, ... by the counter at seqKey, without gaps but for the
// oldest ones dropped (events), so the scan starts at the n-th newest number
// instead of at the start of the prefix: the audit log is never trimmed, and
// a status read must not decode all of it. The ring still caps the answer at
// n, as records applied after the counter was read may show up in the scan.
func tail[T proto.Message](r replication.Reader, prefix, seqKey []byte, n int, mk func() T, decode func([]byte, proto.Message) bool) ([]T, error) {
	if n <= 0 {
		return nil, nil
	}
	lower := prefix
	v, found, err := r.Get(seqKey)
	if err != nil {
		return nil, err
	}
	if found && len(v) == 8 {
		if last := binary.BigEndian.Uint64(v); last > uint64(n) {
			lower = u64Key(prefix, last-uint64(n)+1)
		}
	}
	var ring []T
	err = r.Scan(lower, prefixEnd(prefix), func(_, v []byte) bool {
		m := mk()
		if !decode(v, m) {
			return false
		}
		ring = append(ring, m)
		if len(ring) > n {
			ring = ring[1:]
		}
		return true
	})
	return ring, err
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}
