package gossip

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// delegate is this package's side of memberlist: Delegate (our meta and
// our own messages), EventDelegate (joins, updates, deaths), PingDelegate
// (acks), AliveDelegate and MergeDelegate (admission, admit.go). Memberlist calls it from its goroutines, often with
// its node lock held: every method is quick and never calls memberlist.
type delegate struct {
	name       string
	meta       func() *pb.MemberMeta
	view       *view
	logger     *slog.Logger
	broadcasts *memberlist.TransmitLimitedQueue
	admission  *admission // AliveDelegate and MergeDelegate, admit.go

	claimsDroppedWarned atomic.Bool
	metaEmptyWarned     atomic.Bool
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta encodes Config.Meta in at most limit bytes, dropping leader
// claims from the end if needed; it warns once per agent.
func (d *delegate) NodeMeta(limit int) []byte {
	enc := encodeMeta(d.meta(), min(limit, memberlist.MetaMaxSize))
	switch {
	case enc.empty:
		if !d.metaEmptyWarned.Swap(true) {
			d.logger.Error("gossip: member meta does not fit even without leader claims; advertising no meta",
				"limit_bytes", limit)
		}
	case enc.claimsDropped > 0:
		if !d.claimsDroppedWarned.Swap(true) {
			d.logger.Warn("gossip: member meta too large; dropped leader claims from the end (warned once)",
				"limit_bytes", limit, "claims_dropped", enc.claimsDropped)
		}
	}
	return enc.bytes
}

// NotifyMsg handles our own messages (leave notices, sent by gossip; a
// direct packet is handled the same). Garbage is ignored.
func (d *delegate) NotifyMsg(b []byte) {
	name, ok := parseLeaveNotice(b)
	if !ok || name == d.name {
		return
	}
	d.view.leaveNotice(name)
}

// GetBroadcasts piggybacks our queued messages on memberlist's gossip.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.broadcasts.GetBroadcasts(overhead, limit)
}

// LocalState: no state beyond the meta to exchange in push/pull.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState: see LocalState.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin: a member is alive (new, or back from dead or left).
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.view.alive(n.Name, n.Address(), d.decode(n)) }

// NotifyUpdate: an alive member's meta changed.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.view.alive(n.Name, n.Address(), d.decode(n)) }

// NotifyLeave: memberlist declared the member dead, or it left.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.view.gone(n.Name, n.Address()) }

// AckPayload: acks carry nothing of ours.
func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete: a direct probe was answered, the member is reachable.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.view.acked(other.Name)
}

func (d *delegate) decode(n *memberlist.Node) *pb.MemberMeta {
	meta, err := decodeMeta(n.Meta)
	if err != nil && !errors.Is(err, errNoMeta) {
		d.logger.Warn("gossip: undecodable member meta", "member", n.Name, "error", err)
	}
	return meta
}

// Our messages: one type byte, then the payload.
const msgLeaveNotice byte = 1

// leaveNotice is the message a member sends just before memberlist's leave:
// memberlist reports a leave and a death alike (NotifyLeave), so members
// learn which one it is from this notice.
func leaveNotice(name string) []byte {
	return append([]byte{msgLeaveNotice}, name...)
}

func parseLeaveNotice(b []byte) (name string, ok bool) {
	if len(b) < 2 || len(b) > 1+nameBytesMax || b[0] != msgLeaveNotice {
		return "", false
	}
	return string(b[1:]), true // string copies: memberlist may reuse b
}

// leaveBroadcast is a leave notice in memberlist's gossip queue.
type leaveBroadcast []byte

func (b leaveBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b leaveBroadcast) Message() []byte                       { return b }
func (b leaveBroadcast) Finished()                             {}
