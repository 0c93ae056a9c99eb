package replicationtest_test

import "github.com/hashicorp/raft"

// raftLog names the raft log type once for the tests.
type raftLog struct{ raft.Log }
