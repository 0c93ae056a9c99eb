package storage

import "errors"

var (
	// ErrClosed is returned by every operation on a DB (or one of its
	// GroupStores) after Close has been called, including a second Close.
	ErrClosed = errors.New("storage: closed")

	// ErrCorrupt marks errors about stored bytes that cannot be decoded: a log
	// entry, a log key or a uint64 stable value. Check it with errors.Is; the
	// message names the group and the entry, e.g.
	// "storage: group 7 log 42: corrupt entry: truncated term".
	ErrCorrupt = errors.New("corrupt entry")

	// ErrKeyNotFound is returned by GroupStore.Get for a stable key that was
	// never set. Its text is exactly "not found", without the package prefix,
	// because hashicorp/raft recognises a missing stable key by comparing
	// err.Error() with "not found" (api.go HasExistingState and NewRaft,
	// raft.go requestVote), the same text raft.InmemStore returns.
	ErrKeyNotFound = errors.New("not found")

	// ErrInvalidOptions marks the error returned by Options.Validate (and so by
	// Open) when an option is out of range.
	ErrInvalidOptions = errors.New("storage: invalid options")
)
