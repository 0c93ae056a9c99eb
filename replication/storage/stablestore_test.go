package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestStableStoreMissingKeysMatchRaftInmemStore(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	value, err := store.Get([]byte("LastVoteCand"))
	// raft checks exactly this text (raft.go requestVote, api.go NewRaft).
	if value != nil || err == nil || err.Error() != "not found" || !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get(missing) = %q, %v; want nil, \"not found\"", value, err)
	}
	number, err := store.GetUint64([]byte("CurrentTerm"))
	if number != 0 || err != nil {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", number, err)
	}
}

func TestStableStoreSetGet(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	if err := store.Set([]byte("LastVoteCand"), []byte("node-a")); err != nil {
		t.Fatal(err)
	}
	if err := store.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil { // overwrite
		t.Fatal(err)
	}
	value, err := store.Get([]byte("LastVoteCand"))
	if err != nil || string(value) != "node-b" {
		t.Fatalf("Get = %q, %v; want node-b", value, err)
	}
	value[0] = 'X' // the caller owns the result
	if again, _ := store.Get([]byte("LastVoteCand")); string(again) != "node-b" {
		t.Fatalf("Get after changing a previous result = %q", again)
	}

	if err := store.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if value, err := store.Get([]byte("empty")); err != nil || value == nil || len(value) != 0 {
		t.Fatalf("Get(empty value) = %q (nil %v), %v; want empty non-nil", value, value == nil, err)
	}

	// The empty key is a key like any other.
	if err := store.Set(nil, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if value, err := store.Get([]byte{}); err != nil || string(value) != "v" {
		t.Fatalf("Get(empty key) = %q, %v", value, err)
	}
}

func TestStableStoreUint64(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	for _, want := range []uint64{1, 0, math.MaxUint64, 42} {
		if err := store.SetUint64([]byte("CurrentTerm"), want); err != nil {
			t.Fatal(err)
		}
		got, err := store.GetUint64([]byte("CurrentTerm"))
		if err != nil || got != want {
			t.Fatalf("GetUint64 = %d, %v; want %d", got, err, want)
		}
	}
	raw, err := store.Get([]byte("CurrentTerm"))
	if err != nil || !bytes.Equal(raw, []byte{0, 0, 0, 0, 0, 0, 0, 42}) {
		t.Fatalf("Get of a uint64 key = %x, %v; want 8 big-endian bytes", raw, err)
	}
}

func TestStableKeysAreStoredUnderStableKey(t *testing.T) {
	db := openTestDB(t, "")
	if err := db.Group(3).Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	value, closer, err := db.Pebble().Get(StableKey(3, []byte("k")))
	if err != nil {
		t.Fatalf("raw Get(StableKey(3, k)): %v", err)
	}
	defer closer.Close()
	if string(value) != "v" {
		t.Fatalf("raw value = %q", value)
	}
}
