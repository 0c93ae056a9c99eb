package replication

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cellpay/cellpay/replication/storage"
)

// StateDigest returns this replica's applied index and a SHA-256 over its
// whole state at exactly that index (read from one Pebble snapshot, so
// concurrent applies do not tear it). Replicas of a group at the same
// applied index must report the same digest; reconciliation compares them.
//
// The hash covers, in key order, every state key and value, each
// length-prefixed (uvarint), preceded by the applied index (8 bytes,
// big-endian).
func (g *Group) StateDigest() (appliedIndex uint64, sha [32]byte, err error) {
	return stateDigest(g.host.db.Pebble(), g.id)
}

func stateDigest(db *pebble.DB, group storage.GroupID) (appliedIndex uint64, sha [32]byte, err error) {
	snap := db.NewSnapshot()
	defer snap.Close()
	appliedIndex, err = readApplied(snap, group)
	if err != nil {
		return 0, sha, err
	}
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, appliedIndex))
	var lenBuf []byte
	err = scan(snap, group, nil, nil, func(k, v []byte) bool {
		lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(k)))
		h.Write(lenBuf)
		h.Write(k)
		lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(v)))
		h.Write(lenBuf)
		h.Write(v)
		return true
	})
	if err != nil {
		return 0, sha, err
	}
	copy(sha[:], h.Sum(nil))
	return appliedIndex, sha, nil
}
