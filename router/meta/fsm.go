package meta

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
)

// GroupID is the meta group's replication group id. Cell ids start at 1.
const GroupID uint64 = 0

// siteIDLengthMax bounds a site id (the topology allows 32 bytes).
const siteIDLengthMax = 64

// EventsMax bounds the events kept; older ones are dropped.
const EventsMax = 10000

// Key layout inside the group's state.
var (
	keySitePrefix  = []byte("site/")
	keyPinPrefix   = []byte("pin/")
	keyEventPrefix = []byte("event/")
	keyAuditPrefix = []byte("audit/")
	keyEventSeq    = []byte("seq/event")
	keyAuditSeq    = []byte("seq/audit")
	keyDrill       = []byte("drill")
)

func siteKey(id string) []byte { return append(append([]byte(nil), keySitePrefix...), id...) }

func u64Key(prefix []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), n)
}

// Result is what Apply returns to the proposer.
type Result struct {
	// Seq is the sequence number given to an event or audit entry.
	Seq uint64
	Err error
}

// ErrInvalidCommand marks a command Apply refused.
var ErrInvalidCommand = errors.New("meta: invalid command")

// FSM is the meta group's state machine.
type FSM struct{}

var _ replication.StateMachine = FSM{}

// Restored implements replication.StateMachine; FSM keeps no cache.
func (FSM) Restored(uint64) {}

// Apply implements replication.StateMachine.
func (FSM) Apply(tx *replication.Tx, e replication.Entry) any {
	var cmd pb.MetaCommand
	if err := proto.Unmarshal(e.Data, &cmd); err != nil {
		return Result{Err: fmt.Errorf("%w: undecodable: %v", ErrInvalidCommand, err)}
	}
	at := cmd.GetAtUnixMs()
	switch op := cmd.GetOp().(type) {
	case *pb.MetaCommand_SetSite:
		r := op.SetSite
		if r.GetSite() == "" || len(r.GetSite()) > siteIDLengthMax || r.GetState() == pb.SiteState_SITE_STATE_UNSPECIFIED {
			return Result{Err: fmt.Errorf("%w: set_site needs a site id and a state, got %q %s", ErrInvalidCommand, r.GetSite(), r.GetState())}
		}
		return put(tx, siteKey(r.GetSite()), r)
	case *pb.MetaCommand_Pin:
		p := op.Pin
		if p.GetCellId() == 0 {
			return Result{Err: fmt.Errorf("%w: pin needs a cell_id", ErrInvalidCommand)}
		}
		k := u64Key(keyPinPrefix, p.GetCellId())
		if p.GetSite() == "" {
			tx.Delete(k)
			return Result{}
		}
		return put(tx, k, p)
	case *pb.MetaCommand_Event:
		ev := proto.Clone(op.Event).(*pb.MetaEvent)
		if ev.GetKind() == "" {
			return Result{Err: fmt.Errorf("%w: event needs a kind", ErrInvalidCommand)}
		}
		seq, err := nextSeq(tx, keyEventSeq)
		if err != nil {
			return Result{Err: err}
		}
		ev.Seq = seq
		if ev.AtUnixMs == 0 {
			ev.AtUnixMs = at
		}
		if seq > EventsMax {
			tx.Delete(u64Key(keyEventPrefix, seq-EventsMax))
		}
		r := put(tx, u64Key(keyEventPrefix, seq), ev)
		r.Seq = seq
		return r
	case *pb.MetaCommand_Audit:
		a := proto.Clone(op.Audit).(*pb.AuditEntry)
		if a.GetOperator() == "" || a.GetAction() == "" {
			return Result{Err: fmt.Errorf("%w: audit entry needs an operator and an action", ErrInvalidCommand)}
		}
		seq, err := nextSeq(tx, keyAuditSeq)
		if err != nil {
			return Result{Err: err}
		}
		a.Seq, a.AtUnixMs = seq, at
		r := put(tx, u64Key(keyAuditPrefix, seq), a)
		r.Seq = seq
		return r
	case *pb.MetaCommand_PutDrill:
		if op.PutDrill.GetId() == "" {
			return Result{Err: fmt.Errorf("%w: drill needs an id", ErrInvalidCommand)}
		}
		return put(tx, keyDrill, op.PutDrill)
	}
	return Result{Err: fmt.Errorf("%w: no operation", ErrInvalidCommand)}
}

func put(tx *replication.Tx, key []byte, m proto.Message) Result {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return Result{Err: fmt.Errorf("meta: encode: %w", err)}
	}
	tx.Set(key, b)
	return Result{}
}

func nextSeq(tx *replication.Tx, key []byte) (uint64, error) {
	v, found, err := tx.Get(key)
	if err != nil {
		return 0, err
	}
	var n uint64
	if found && len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	tx.Set(key, binary.BigEndian.AppendUint64(nil, n))
	return n, nil
}
