// Package meta is the meta group's state machine and its reads: one small
// Raft group (replication group id GroupID) whose voters are the first node
// of every site. It holds the site states the failover controller decided,
// the cells pinned by move drills, failover events, drills, and the
// append-only audit log of operator actions.
//
// Commands are protobuf MetaCommand values stamped with the proposing
// leader's clock; Apply is deterministic and rejects undecodable or invalid
// commands with an error result, never a panic. Events are kept up to
// EventsMax (the oldest are dropped); the audit log is never trimmed, so Read
// decodes only the newest records it returns, whatever the log's length.
//
// Callers' duties: start the group on the voters given by Voters, propose
// only through the group's leader (Group.Apply), and read with Read after a
// LinearizableRead when the answer must be current.
package meta
