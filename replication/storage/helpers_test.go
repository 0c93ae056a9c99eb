package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testOptions keeps test databases small: many tests open their own.
func testOptions() Options {
	opts := DefaultOptions()
	opts.CacheSizeBytes = 8 << 20
	opts.MemTableSizeBytes = 4 << 20
	opts.Logger = quietLogger{}
	return opts
}

// quietLogger drops Pebble's informational messages and fails nothing: test
// assertions check behaviour, not log output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// openTestDB opens a database in dir (a fresh temporary one if dir is "")
// and closes it when the test ends unless the test closed it first.
func openTestDB(t testing.TB, dir string) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := Open(dir, testOptions())
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && err != ErrClosed {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// testLog returns a distinctive entry for index and term.
func testLog(index, term uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogCommand,
		Data:       []byte(fmt.Sprintf("data-%d-%d", index, term)),
		Extensions: []byte{byte(index), byte(term)},
		AppendedAt: time.Unix(1_700_000_000, int64(index)),
	}
}

// testLogs returns entries first..last (inclusive) of term.
func testLogs(first, last, term uint64) []*raft.Log {
	logs := make([]*raft.Log, 0, last-first+1)
	for i := first; i <= last; i++ {
		logs = append(logs, testLog(i, term))
	}
	return logs
}

// sameLog reports whether two entries are equal as stored: nil and empty
// byte fields are the same, times are compared as instants.
func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt) && a.AppendedAt.IsZero() == b.AppendedAt.IsZero()
}

// mustStoreLogs stores logs or fails the test.
func mustStoreLogs(t testing.TB, s *GroupStore, logs []*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("group %d StoreLogs: %v", s.ID(), err)
	}
}

// mustDeleteRange deletes min..max or fails the test.
func mustDeleteRange(t testing.TB, s *GroupStore, min, max uint64) {
	t.Helper()
	if err := s.DeleteRange(min, max); err != nil {
		t.Fatalf("group %d DeleteRange(%d, %d): %v", s.ID(), min, max, err)
	}
}

// expectIndexes checks FirstIndex and LastIndex.
func expectIndexes(t testing.TB, s *GroupStore, first, last uint64) {
	t.Helper()
	gotFirst, err := s.FirstIndex()
	if err != nil {
		t.Fatalf("group %d FirstIndex: %v", s.ID(), err)
	}
	gotLast, err := s.LastIndex()
	if err != nil {
		t.Fatalf("group %d LastIndex: %v", s.ID(), err)
	}
	if gotFirst != first || gotLast != last {
		t.Fatalf("group %d First/LastIndex = %d/%d, want %d/%d", s.ID(), gotFirst, gotLast, first, last)
	}
}

// expectLog checks that index holds want.
func expectLog(t testing.TB, s *GroupStore, want *raft.Log) {
	t.Helper()
	var got raft.Log
	if err := s.GetLog(want.Index, &got); err != nil {
		t.Fatalf("group %d GetLog(%d): %v", s.ID(), want.Index, err)
	}
	if !sameLog(&got, want) {
		t.Fatalf("group %d GetLog(%d) = %+v, want %+v", s.ID(), want.Index, got, *want)
	}
}

// expectNoLog checks that index holds nothing.
func expectNoLog(t testing.TB, s *GroupStore, index uint64) {
	t.Helper()
	var got raft.Log
	if err := s.GetLog(index, &got); err != raft.ErrLogNotFound {
		t.Fatalf("group %d GetLog(%d) error = %v, want raft.ErrLogNotFound", s.ID(), index, err)
	}
}
