// Package topology reads, validates and answers questions about the topology
// file that every cellpay process shares: the sites (datacenters) and their
// regions, the round-trip times between sites, the nodes with their
// addresses, and the cells with their home site, replicas and slot ranges.
//
// The file is YAML, decoded strictly (an unknown or repeated field is an
// error):
//
//	environment: test           # [a-z0-9-], 1-32 characters
//	sites:
//	  - {id: hz-a, region: hangzhou}
//	  - {id: hz-b, region: hangzhou}
//	  - {id: sh-a, region: shanghai}
//	rtt:                        # every pair of distinct sites, once, in (0, 2s]
//	  - {sites: [hz-a, hz-b], rtt: 2ms}
//	  - {sites: [hz-a, sh-a], rtt: 30ms}
//	  - {sites: [hz-b, sh-a], rtt: 30ms}
//	nodes:
//	  - id: hz-a-1
//	    site: hz-a
//	    raft_addr: 127.0.0.1:7101    # node-to-node Raft traffic
//	    client_addr: 127.0.0.1:7201  # the Cell gRPC service routers call
//	cells:
//	  - id: 1
//	    home: hz-a
//	    replicas: [hz-a-1, hz-b-1, sh-a-1]   # 3 or 5 node ids
//	    slots: ["0-4095"]                    # "first-last" or "slot"
//
// Validate lists the rules. Parse, Load and New report every violation at
// once in a *ValidationError (matching ErrInvalid), one per broken rule, each
// naming the field path and the offending value:
//
//	topology: nodes[2].site: unknown site "hz-c"
//	topology: cells[4].replicas: losing site "hz-a" leaves 1 of 3 replicas, not a majority
//	topology: slots: slots 4000-4095 are owned by no cell
//
// An account belongs to a slot (SlotOf: FNV-1a 64 of its id, modulo Slots,
// fixed forever) and a slot to one cell (CellOfSlot, CellOfAccount). Every
// lookup is a map or array access on indexes built once, so routers may
// call them per request.
//
// Callers' duties:
//
//  1. Load the file once at start (or Parse bytes, or New a Spec in tests)
//     and stop on an error: there is no partially valid Topology.
//  2. Call CheckEnvironment with the environment the process was told it
//     runs in (e.g. --env prod), and stop on an error: a test topology must
//     never drive a production process, nor the reverse.
//  3. Share the *Topology freely: it is immutable and safe for concurrent
//     use. Do not modify the slices inside returned values (Cell.Replicas,
//     Cell.Slots); they are shared.
//  4. To change the topology, load a new file into a new Topology; moving a
//     slot range between cells is a data migration first, never only an
//     edit of the file.
package topology
