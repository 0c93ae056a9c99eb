package storage

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Limits of the options. They keep one node's store inside what Pebble
// accepts (a memtable must stay below 4 GiB) and away from settings that
// only make sense by mistake (a 4 KiB block cache).
const (
	cacheSizeBytesMin              = 1 << 20 // 1 MiB
	memTableSizeBytesMin           = 1 << 20 // 1 MiB
	memTableSizeBytesMax           = 1 << 30 // 1 GiB
	memTableStopWritesThresholdMin = 2       // below 2, every flush stops writes
	maxOpenFilesMin                = 16
)

// Options configures the node's Pebble store. DefaultOptions fills every
// field; Open refuses options that fail Validate.
type Options struct {
	// CacheSizeBytes is the size of Pebble's block cache, shared by the Raft
	// logs, the stable state and the state-machine data of every group on the
	// node. Default 256 MiB; at least 1 MiB.
	CacheSizeBytes int64

	// MemTableSizeBytes is the steady-state size of one memtable; larger
	// memtables absorb write bursts of many groups before a flush. Default
	// 64 MiB; between 1 MiB and 1 GiB.
	MemTableSizeBytes uint64

	// MemTableStopWritesThreshold is how many memtables may queue for flushing
	// before writes stall. Default 4; at least 2.
	MemTableStopWritesThreshold int

	// MaxOpenFiles is a soft limit on the files Pebble keeps open. Default
	// 1000; at least 16.
	MaxOpenFiles int

	// Logger receives Pebble's log messages. Default nil, meaning
	// pebble.DefaultLogger (the standard library log package).
	Logger pebble.Logger

	// FS is the filesystem the store lives on. Default vfs.Default (the
	// operating system's); nil also means vfs.Default. Tests give an in-memory
	// one (vfs.NewMem, or vfs.NewCrashableMem to simulate a crash that loses
	// unsynced writes; see replication/replicationtest).
	FS vfs.FS

	// UnsafeNoSyncForBenchmarksOnly commits log and stable writes without
	// waiting for fsync. Default false, and it must stay false outside
	// benchmarks: Raft acknowledges an entry or a vote to its peers only after
	// the store returns, so a node that loses those writes in a power failure or
	// kernel crash can vote twice in one term or forget committed entries,
	// which breaks Raft's safety and can lose or duplicate payments. Open logs a
	// warning when it is set.
	UnsafeNoSyncForBenchmarksOnly bool
}

// DefaultOptions returns the options for a production node.
func DefaultOptions() Options {
	return Options{
		CacheSizeBytes:                256 << 20,
		MemTableSizeBytes:             64 << 20,
		MemTableStopWritesThreshold:   4,
		MaxOpenFiles:                  1000,
		Logger:                        nil,
		FS:                            vfs.Default,
		UnsafeNoSyncForBenchmarksOnly: false,
	}
}

// ValidationError lists every option that is out of range. It matches
// ErrInvalidOptions with errors.Is.
type ValidationError struct {
	// Violations has one message per bad option, naming the field and value.
	Violations []string
}

func (e *ValidationError) Error() string {
	return "storage: invalid options: " + strings.Join(e.Violations, "; ")
}

// Is reports whether target is ErrInvalidOptions.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidOptions }

// Validate reports every out-of-range option at once as a *ValidationError,
// or nil if all are valid.
func (o Options) Validate() error {
	var violations []string
	add := func(format string, args ...any) {
		violations = append(violations, fmt.Sprintf(format, args...))
	}
	if o.CacheSizeBytes < cacheSizeBytesMin {
		add("CacheSizeBytes (%d) must be at least %d", o.CacheSizeBytes, cacheSizeBytesMin)
	}
	if o.MemTableSizeBytes < memTableSizeBytesMin || o.MemTableSizeBytes > memTableSizeBytesMax {
		add("MemTableSizeBytes (%d) must be between %d and %d",
			o.MemTableSizeBytes, memTableSizeBytesMin, memTableSizeBytesMax)
	}
	if o.MemTableStopWritesThreshold < memTableStopWritesThresholdMin {
		add("MemTableStopWritesThreshold (%d) must be at least %d",
			o.MemTableStopWritesThreshold, memTableStopWritesThresholdMin)
	}
	if o.MaxOpenFiles < maxOpenFilesMin {
		add("MaxOpenFiles (%d) must be at least %d", o.MaxOpenFiles, maxOpenFilesMin)
	}
	if len(violations) > 0 {
		return &ValidationError{Violations: violations}
	}
	return nil
}

// pebbleFormatMajorVersion pins the on-disk format. Pinned rather than
// pebble.FormatNewest so that upgrading the Pebble module never ratchets a
// node's store to a format an older binary cannot open; raise it on purpose.
const pebbleFormatMajorVersion = pebble.FormatValueSeparation

// fs is the store's filesystem: FS, or vfs.Default when unset.
func (o Options) fs() vfs.FS {
	if o.FS == nil {
		return vfs.Default
	}
	return o.FS
}

// pebbleOptions translates validated options.
func (o Options) pebbleOptions() *pebble.Options {
	return &pebble.Options{
		FS:                          o.fs(),
		CacheSize:                   o.CacheSizeBytes,
		MemTableSize:                o.MemTableSizeBytes,
		MemTableStopWritesThreshold: o.MemTableStopWritesThreshold,
		MaxOpenFiles:                o.MaxOpenFiles,
		Logger:                      o.Logger,
		FormatMajorVersion:          pebbleFormatMajorVersion,
	}
}
