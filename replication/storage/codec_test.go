package storage

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func codecExamples() []*raft.Log {
	return []*raft.Log{
		{},
		{Index: 1, Term: 1, Type: raft.LogNoop},
		{Index: math.MaxUint64, Term: math.MaxUint64, Type: raft.LogType(255),
			Data: bytes.Repeat([]byte{0xab}, 300), Extensions: []byte("ext"),
			AppendedAt: time.Unix(0, math.MaxInt64)},
		{Index: 42, Term: 7, Type: raft.LogConfiguration, Data: []byte{0},
			AppendedAt: time.Unix(0, math.MinInt64)},
		{Index: 3, Term: 2, Extensions: []byte{1, 2, 3}, AppendedAt: time.Unix(0, 0)},
		{Index: 5, Term: 5, Data: []byte{}, Extensions: []byte{}, AppendedAt: time.Now()},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, want := range codecExamples() {
		encoded := appendLog(nil, want)
		if len(encoded) != encodedLogSize(want) {
			t.Errorf("encoding of %+v is %d bytes, encodedLogSize says %d", *want, len(encoded), encodedLogSize(want))
		}
		got, err := decodeLog(encoded)
		if err != nil {
			t.Fatalf("decodeLog(encoding of %+v): %v", *want, err)
		}
		if !sameLog(&got, want) {
			t.Errorf("round trip of %+v = %+v", *want, got)
		}
	}
}

func TestDecodedLogDoesNotAliasInput(t *testing.T) {
	encoded := appendLog(nil, &raft.Log{Index: 1, Data: []byte("data"), Extensions: []byte("ext")})
	got, err := decodeLog(encoded)
	if err != nil {
		t.Fatal(err)
	}
	for i := range encoded {
		encoded[i] = 0
	}
	if string(got.Data) != "data" || string(got.Extensions) != "ext" {
		t.Fatalf("decoded fields changed with their input: %q %q", got.Data, got.Extensions)
	}
	// Appending to Data must not overwrite Extensions, which share one buffer.
	_ = append(got.Data, 'X')
	if string(got.Extensions) != "ext" {
		t.Fatalf("append to Data overwrote Extensions: %q", got.Extensions)
	}
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	valid := appendLog(nil, &raft.Log{Index: 300, Term: 2, Data: []byte("abc"), AppendedAt: time.Unix(5, 0)})
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "shorter than"},
		{"short header", []byte{1, 0}, "shorter than"},
		{"unknown version", append([]byte{9}, valid[1:]...), "unknown format version 9"},
		{"unknown flags", append([]byte{1, 0x80}, valid[2:]...), "unknown flags 0x80"},
		{"truncated index", []byte{1, 0, 0, 0x80}, "truncated index"},
		{"overflowing term", append([]byte{1, 0, 0, 1}, bytes.Repeat([]byte{0xff}, 11)...), "overflowing term"},
		{"truncated time", []byte{1, 1, 0, 1, 1}, "truncated appended-at time"},
		{"data too long", []byte{1, 0, 0, 1, 1, 5, 'a'}, "data length 5 exceeds the 1 remaining bytes"},
		{"missing extensions", []byte{1, 0, 0, 1, 1, 1, 'a'}, "truncated extensions length"},
		{"trailing bytes", append(append([]byte{}, valid...), 0), "1 trailing bytes"},
		{"cut short", valid[:len(valid)-1], "extensions length"},
	}
	for _, test := range tests {
		_, err := decodeLog(test.input)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: decodeLog(%x) error = %v, want one containing %q", test.name, test.input, err, test.want)
		}
	}
}

func TestGetLogReportsCorruptEntry(t *testing.T) {
	db := openTestDB(t, "")
	store := db.Group(7)
	if err := db.Pebble().Set(LogKey(7, 42), []byte("garbage"), nil); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	err := store.GetLog(42, &got)
	if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "storage: group 7 log 42: corrupt entry: ") {
		t.Fatalf("GetLog of garbage: error = %v, want ErrCorrupt starting %q", err, "storage: group 7 log 42: corrupt entry: ")
	}

	// A valid entry under the wrong index is corrupt too.
	if err := db.Pebble().Set(LogKey(7, 43), appendLog(nil, testLog(44, 1)), nil); err != nil {
		t.Fatal(err)
	}
	if err := store.GetLog(43, &got); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "entry records index 44") {
		t.Fatalf("GetLog of misplaced entry: error = %v, want ErrCorrupt naming index 44", err)
	}

	// A key inside the log prefix that is not a log key cannot be an index.
	if err := db.Pebble().Set(append(LogKey(8, 1), 0), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Group(8).FirstIndex(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("FirstIndex over a malformed log key: error = %v, want ErrCorrupt", err)
	}

	// A uint64 stable value of the wrong length.
	if err := store.Set([]byte("CurrentTerm"), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetUint64([]byte("CurrentTerm")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetUint64 of a 3-byte value: error = %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeLog checks that decoding arbitrary bytes never panics, that
// whatever decodes re-encodes to the same bytes (the encoding is canonical),
// and that any entry built from the fuzzed fields round-trips.
func FuzzDecodeLog(f *testing.F) {
	for _, l := range codecExamples() {
		f.Add(appendLog(nil, l), l.Index, l.Term, uint8(l.Type), l.Data, l.Extensions, l.AppendedAt.UnixNano())
	}
	f.Add([]byte{1, 0, 0, 0x80}, uint64(0), uint64(0), uint8(0), []byte(nil), []byte(nil), int64(0))
	f.Fuzz(func(t *testing.T, input []byte, index, term uint64, logType uint8, data, extensions []byte, appendedAtNanos int64) {
		if decoded, err := decodeLog(input); err == nil {
			if again := appendLog(nil, &decoded); !bytes.Equal(again, input) {
				// Varints have one canonical form only if the decoder insists;
				// encoding/binary accepts padded ones, so compare values.
				redecoded, err := decodeLog(again)
				if err != nil || !sameLog(&redecoded, &decoded) {
					t.Fatalf("re-encoding %+v gave %x, which decodes to %+v, %v", decoded, again, redecoded, err)
				}
			}
		}

		want := raft.Log{Index: index, Term: term, Type: raft.LogType(logType), Data: data, Extensions: extensions}
		if appendedAtNanos != 0 {
			want.AppendedAt = time.Unix(0, appendedAtNanos)
		}
		encoded := appendLog(nil, &want)
		got, err := decodeLog(encoded)
		if err != nil {
			t.Fatalf("decodeLog(encoding of %+v): %v", want, err)
		}
		if !sameLog(&got, &want) {
			t.Fatalf("round trip of %+v = %+v", want, got)
		}
	})
}
