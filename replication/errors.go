package replication

import (
	"errors"
	"fmt"
)

var (
	// ErrOutcomeUnknown: a proposal was handed to raft but its fate is not
	// known (leadership lost, deadline reached, shutdown). It may still
	// commit. Callers must resolve it (e.g. by idempotency key), never
	// resend it blindly.
	ErrOutcomeUnknown = errors.New("replication: outcome unknown")
	// ErrNoGroup: the node hosts no replica of the group.
	ErrNoGroup = errors.New("replication: no such group on this node")
	// ErrClosed: the host or group is shut down.
	ErrClosed = errors.New("replication: closed")
)

// NotLeaderError says this replica is not the group's leader; the command
// was not proposed (it is safe to send it to the leader). LeaderID and
// LeaderAddr are a hint and may be empty when no leader is known.
type NotLeaderError struct {
	Group      uint64
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return fmt.Sprintf("replication: group %d: not the leader; no leader known", e.Group)
	}
	return fmt.Sprintf("replication: group %d: not the leader; leader is %s at %s", e.Group, e.LeaderID, e.LeaderAddr)
}

// TransferError says why a leadership transfer failed.
type TransferError struct {
	Group  uint64
	Target string
	Reason string
	Err    error
}

func (e *TransferError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("replication: group %d: leadership transfer to %s failed: %s: %v", e.Group, e.Target, e.Reason, e.Err)
	}
	return fmt.Sprintf("replication: group %d: leadership transfer to %s failed: %s", e.Group, e.Target, e.Reason)
}

func (e *TransferError) Unwrap() error { return e.Err }
