package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func encodeSnapshot(t testing.TB, applied uint64, kv [][2]string) []byte {
	var buf bytes.Buffer
	w := newSnapshotWriter(&buf, applied)
	for _, e := range kv {
		if err := w.entry([]byte(e[0]), []byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeSnapshot(b []byte) (uint64, [][2]string, error) {
	r := newSnapshotReader(bytes.NewReader(b))
	applied, err := r.header()
	if err != nil {
		return 0, nil, err
	}
	var out [][2]string
	for {
		k, v, err := r.next()
		if errors.Is(err, io.EOF) {
			return applied, out, nil
		}
		if err != nil {
			return 0, nil, err
		}
		out = append(out, [2]string{string(k), string(v)})
	}
}

func TestSnapshotFormatRoundTrip(t *testing.T) {
	kv := [][2]string{{"", "empty key"}, {"a", ""}, {"count", "\x00\x00\x00\x00\x00\x00\x00\x07"}}
	for i := 0; i < 1000; i++ {
		kv = append(kv, [2]string{fmt.Sprintf("kv/%05d", i), string(bytes.Repeat([]byte{byte(i)}, i%300))})
	}
	b := encodeSnapshot(t, 424242, kv)
	applied, got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if applied != 424242 || len(got) != len(kv) {
		t.Fatalf("applied %d, %d entries; want 424242, %d", applied, len(got), len(kv))
	}
	for i := range kv {
		if got[i] != kv[i] {
			t.Fatalf("entry %d: %q, want %q", i, got[i], kv[i])
		}
	}
}

// Every kind of damage is detected: a flipped byte anywhere (checksum),
// truncation at every length, and a bad magic.
func TestSnapshotFormatDetectsCorruption(t *testing.T) {
	b := encodeSnapshot(t, 9, [][2]string{{"k1", "v1"}, {"k2", "value two"}})
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, _, err := decodeSnapshot(bad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for n := 0; n < len(b); n++ {
		if _, _, err := decodeSnapshot(b[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes went unnoticed", n, len(b))
		} else if !errors.Is(err, errCorruptSnapshot) {
			t.Fatalf("truncation to %d: error %v is not marked corrupt", n, err)
		}
	}
}

// FuzzSnapshotDecode: no input panics the decoder, and whatever decodes
// re-encodes to the same entries.
func FuzzSnapshotDecode(f *testing.F) {
	f.Add(encodeSnapshot(f, 1, [][2]string{{"a", "b"}}))
	f.Add([]byte(snapshotMagic + "\x00\x00\x00\x00\x00\x00\x00\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		applied, kv, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again, kv2, err := decodeSnapshot(encodeSnapshot(t, applied, kv))
		if err != nil || again != applied || len(kv2) != len(kv) {
			t.Fatalf("re-encoding changed the snapshot: %v", err)
		}
	})
}
