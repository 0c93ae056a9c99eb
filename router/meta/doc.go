// Package meta is the meta group's state machine and its reads: one small
// Raft group (replication group id GroupID) whose voters are the first node
// of every site. It holds the site states the failover controller decided,
// the cells pinned by move drills, failover events, drills, and the
// append-only audit log of operator actions.
//
// Commands are protobuf MetaCommand values stamped with the proposing
// leader's clock; Apply is deterministic and rejects undecodable or invalid
// commands with an error result, never a panic.
//
// Term fencing: the failover controller stamps its commands with its meta
// term (controller_term); Apply refuses one whose term is not the Raft term
// of its own log entry (ErrStaleTerm), so a controller whose leadership
// ended cannot record, not even after it led again in a newer term. Site
// records, pins and drills must carry a term; events and audit entries may
// carry none. A site write is also conditional: it names the version of the
// record it replaces (ErrSiteChanged otherwise), and Apply stamps the next
// version and the writer's term on the record. Events are kept up to
// EventsMax (the oldest are dropped); the audit log is never trimmed, so Read
// decodes only the newest records it returns, whatever the log's length.
//
// Callers' duties: start the group on the voters given by Voters, propose
// only through the group's leader (Group.Apply), and read with Read after a
// LinearizableRead when the answer must be current.
package meta
