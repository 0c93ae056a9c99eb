package storage

import "encoding/binary"

// Key kinds: the first byte of every key this package defines. Big-endian
// group ids and log indexes after it make keys of one kind and group
// contiguous and sorted numerically.
const (
	kindLog    byte = 0x01 // + 8-byte big-endian log index
	kindStable byte = 0x02 // + raw raft stable key
	kindState  byte = 0x03 // + raw state-machine key
	kindMeta   byte = 0x04 // + metadata name
)

const (
	groupPrefixLen = 1 + 8              // kind byte + big-endian group id
	logKeyLen      = groupPrefixLen + 8 // + big-endian log index
	groupIDBytes   = groupPrefixLen - 1 // bytes of the group id
	logIndexOffset = groupPrefixLen     // where the log index starts
	logIndexBytes  = logKeyLen - groupPrefixLen
)

// GroupID identifies one Raft group; a cell's group id is its cell id.
type GroupID uint64

// appendGroupPrefix appends the kind byte and the big-endian group id.
func appendGroupPrefix(dst []byte, kind byte, g GroupID) []byte {
	dst = append(dst, kind)
	return binary.BigEndian.AppendUint64(dst, uint64(g))
}

// groupKey returns kind | group | suffix in one allocation.
func groupKey(kind byte, g GroupID, suffix []byte) []byte {
	key := make([]byte, 0, groupPrefixLen+len(suffix))
	key = appendGroupPrefix(key, kind, g)
	return append(key, suffix...)
}

// prefixBounds returns the iterator bounds [lower, upper) that hold exactly
// the keys starting with kind | group.
func prefixBounds(kind byte, g GroupID) (lower, upper []byte) {
	lower = appendGroupPrefix(make([]byte, 0, groupPrefixLen), kind, g)
	return lower, prefixSuccessor(lower)
}

// prefixSuccessor returns the smallest key greater than every key that
// starts with prefix: the prefix with its last byte below 0xff incremented and
// the bytes after it dropped. The group id MaxUint64 therefore ends at the
// next kind byte. It returns nil (no upper bound) only for an all-0xff prefix,
// which no key of this package has since kind bytes are small.
func prefixSuccessor(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			upper := make([]byte, i+1)
			copy(upper, prefix)
			upper[i]++
			return upper
		}
	}
	return nil
}

// LogKey returns the key of the group's Raft log entry at index:
// 0x01 | group (8 bytes, big-endian) | index (8 bytes, big-endian).
func LogKey(g GroupID, index uint64) []byte {
	key := make([]byte, 0, logKeyLen)
	key = appendGroupPrefix(key, kindLog, g)
	return binary.BigEndian.AppendUint64(key, index)
}

// LogPrefix returns the iterator bounds [lower, upper) of the group's Raft
// log keys and of nothing else.
func LogPrefix(g GroupID) (lower, upper []byte) {
	return prefixBounds(kindLog, g)
}

// parseLogKey returns the index of a log key of group g, or false if key is
// not one (wrong length, kind or group).
func parseLogKey(g GroupID, key []byte) (uint64, bool) {
	if len(key) != logKeyLen || key[0] != kindLog ||
		binary.BigEndian.Uint64(key[1:1+groupIDBytes]) != uint64(g) {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[logIndexOffset : logIndexOffset+logIndexBytes]), true
}

// StableKey returns the key of one of the group's Raft stable-store keys
// (CurrentTerm, LastVoteTerm, ...): 0x02 | group | key.
func StableKey(g GroupID, key []byte) []byte {
	return groupKey(kindStable, g, key)
}

// StateKey returns the key of one of the group's state-machine keys:
// 0x03 | group | key. StateKey(g, nil) is the first key of StatePrefix(g).
func StateKey(g GroupID, key []byte) []byte {
	return groupKey(kindState, g, key)
}

// StatePrefix returns the iterator bounds [lower, upper) of the group's
// state-machine data and of nothing else.
func StatePrefix(g GroupID) (lower, upper []byte) {
	return prefixBounds(kindState, g)
}

// MetaKey returns the key of one of the group's metadata values, such as the
// state machine's applied index: 0x04 | group | name.
func MetaKey(g GroupID, name string) []byte {
	key := make([]byte, 0, groupPrefixLen+len(name))
	key = appendGroupPrefix(key, kindMeta, g)
	return append(key, name...)
}
