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
	// Version is the version given to a site record (set_site).
	Version uint64
	Err     error
}

// Errors of refused commands. Every refusal is an ErrInvalidCommand; the
// fencing refusals are also ErrStaleTerm or ErrSiteChanged, which tell a
// controller that its view is stale and must be rebuilt from the records.
var (
	// ErrInvalidCommand marks a command Apply refused.
	ErrInvalidCommand = errors.New("meta: invalid command")
	// ErrStaleTerm marks a command whose controller_term is not the Raft
	// term of its log entry: its controller no longer leads in that term.
	ErrStaleTerm = errors.New("meta: stale controller term")
	// ErrSiteChanged marks a set_site whose expected_site_version is not
	// the site record's version: the record changed since the controller
	// read it.
	ErrSiteChanged = errors.New("meta: site record changed")
)

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
		r := proto.Clone(op.SetSite).(*pb.SiteRecord)
		if r.GetSite() == "" || len(r.GetSite()) > siteIDLengthMax || r.GetState() == pb.SiteState_SITE_STATE_UNSPECIFIED {
			return Result{Err: fmt.Errorf("%w: set_site needs a site id and a state, got %q %s", ErrInvalidCommand, r.GetSite(), r.GetState())}
		}
		if err := fence(&cmd, e, "set_site"); err != nil {
			return Result{Err: err}
		}
		return setSite(tx, &cmd, r)
	case *pb.MetaCommand_Pin:
		p := op.Pin
		if p.GetCellId() == 0 {
			return Result{Err: fmt.Errorf("%w: pin needs a cell_id", ErrInvalidCommand)}
		}
		if err := fence(&cmd, e, "pin"); err != nil {
			return Result{Err: err}
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
		if err := fence(&cmd, e, ""); err != nil {
			return Result{Err: err}
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
		if err := fence(&cmd, e, ""); err != nil {
			return Result{Err: err}
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
		if err := fence(&cmd, e, "put_drill"); err != nil {
			return Result{Err: err}
		}
		return put(tx, keyDrill, op.PutDrill)
	}
	return Result{Err: fmt.Errorf("%w: no operation", ErrInvalidCommand)}
}

// fence refuses a command of a controller that no longer leads in its
// term. A leader's log entries carry its term, so a command whose
// controller_term differs from its entry's term was proposed for a term
// that is over: its controller lost the meta leadership after deciding
// (and may have led again since, in a newer term, with a stale view).
// Entry terms are the same on every replica, so the check is
// deterministic. required names the operation that must carry a term
// ("" for events and audit entries, which may carry none).
func fence(cmd *pb.MetaCommand, e replication.Entry, required string) error {
	term := cmd.GetControllerTerm()
	switch {
	case term == 0 && required != "":
		return fmt.Errorf("%w: %s needs a controller_term", ErrInvalidCommand, required)
	case term != 0 && term != e.Term:
		return fmt.Errorf("%w: %w: command of controller term %d in a log entry of term %d", ErrInvalidCommand, ErrStaleTerm, term, e.Term)
	}
	return nil
}

// setSite writes a site record if the stored one is still the version the
// controller expects, stamping the next version and the controller's term.
func setSite(tx *replication.Tx, cmd *pb.MetaCommand, r *pb.SiteRecord) Result {
	key := siteKey(r.GetSite())
	var version uint64
	v, found, err := tx.Get(key)
	if err != nil {
		return Result{Err: err}
	}
	if found {
		prev := &pb.SiteRecord{}
		if err := proto.Unmarshal(v, prev); err != nil {
			return Result{Err: fmt.Errorf("meta: corrupt record of site %q: %w", r.GetSite(), err)}
		}
		version = prev.GetVersion()
	}
	if want := cmd.GetExpectedSiteVersion(); want != version {
		return Result{Err: fmt.Errorf("%w: %w: site %s is at version %d, the command expected version %d", ErrInvalidCommand, ErrSiteChanged, r.GetSite(), version, want)}
	}
	r.Version, r.ControllerTerm = version+1, cmd.GetControllerTerm()
	res := put(tx, key, r)
	if res.Err == nil {
		res.Version = r.Version
	}
	return res
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
