package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// The snapshot stream of one group's state:
//
//	magic "cellpay-snapshot-v1" | applied index (8 bytes, big-endian)
//	then records: 0x01 | uvarint key length | key | uvarint value length | value
//	then the end: 0x00 | CRC-32C (Castagnoli) of every byte before it (4 bytes, big-endian)
//
// Keys are relative to the group's state prefix, so a snapshot restores into
// any group id. Decoding checks every length against a limit and the
// checksum at the end; it never panics on corrupt input.
const (
	snapshotMagic      = "cellpay-snapshot-v1"
	recordEntry        = 0x01
	recordEnd          = 0x00
	snapshotKeyMax     = 64 << 10
	snapshotValueMax   = 64 << 20
	snapshotBufferSize = 256 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type snapshotWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	err error
}

func newSnapshotWriter(dst io.Writer, applied uint64) *snapshotWriter {
	crc := crc32.New(castagnoli)
	s := &snapshotWriter{w: bufio.NewWriterSize(io.MultiWriter(dst, crc), snapshotBufferSize), crc: crc}
	s.write([]byte(snapshotMagic))
	s.write(binary.BigEndian.AppendUint64(nil, applied))
	return s
}

func (s *snapshotWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *snapshotWriter) entry(key, value []byte) error {
	if len(key) > snapshotKeyMax || len(value) > snapshotValueMax {
		s.err = fmt.Errorf("snapshot entry too large: key %d bytes (max %d), value %d bytes (max %d)", len(key), snapshotKeyMax, len(value), snapshotValueMax)
		return s.err
	}
	hdr := []byte{recordEntry}
	hdr = binary.AppendUvarint(hdr, uint64(len(key)))
	s.write(hdr)
	s.write(key)
	s.write(binary.AppendUvarint(nil, uint64(len(value))))
	s.write(value)
	return s.err
}

func (s *snapshotWriter) finish() error {
	s.write([]byte{recordEnd})
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if s.err != nil {
		return s.err
	}
	// The checksum is written outside the hashed stream.
	_, err := s.w.Write(binary.BigEndian.AppendUint32(nil, s.crc.Sum32()))
	if err == nil {
		err = s.w.Flush()
	}
	return err
}

type snapshotReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func newSnapshotReader(src io.Reader) *snapshotReader {
	return &snapshotReader{r: bufio.NewReaderSize(src, snapshotBufferSize), crc: crc32.New(castagnoli)}
}

var errCorruptSnapshot = errors.New("corrupt snapshot")

func (s *snapshotReader) full(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated: %v", errCorruptSnapshot, err)
	}
	s.crc.Write(b)
	return b, nil
}

func (s *snapshotReader) uvarint(what string, limit uint64) (uint64, error) {
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("%w: truncated %s", errCorruptSnapshot, what)
		}
		buf[i] = c
		if c < 0x80 {
			v, n := binary.Uvarint(buf[:i+1])
			if n <= 0 || v > limit {
				return 0, fmt.Errorf("%w: %s %d exceeds %d", errCorruptSnapshot, what, v, limit)
			}
			s.crc.Write(buf[:i+1])
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: %s varint too long", errCorruptSnapshot, what)
}

func (s *snapshotReader) header() (uint64, error) {
	magic, err := s.full(len(snapshotMagic))
	if err != nil {
		return 0, err
	}
	if string(magic) != snapshotMagic {
		return 0, fmt.Errorf("%w: bad magic %q", errCorruptSnapshot, magic)
	}
	b, err := s.full(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// next returns the next entry, or io.EOF after a valid end record.
func (s *snapshotReader) next() (key, value []byte, err error) {
	kind, err := s.full(1)
	if err != nil {
		return nil, nil, err
	}
	switch kind[0] {
	case recordEnd:
		want := s.crc.Sum32()
		var got [4]byte
		if _, err := io.ReadFull(s.r, got[:]); err != nil {
			return nil, nil, fmt.Errorf("%w: truncated checksum", errCorruptSnapshot)
		}
		if binary.BigEndian.Uint32(got[:]) != want {
			return nil, nil, fmt.Errorf("%w: checksum mismatch", errCorruptSnapshot)
		}
		return nil, nil, io.EOF
	case recordEntry:
	default:
		return nil, nil, fmt.Errorf("%w: unknown record kind %#x", errCorruptSnapshot, kind[0])
	}
	kl, err := s.uvarint("key length", snapshotKeyMax)
	if err != nil {
		return nil, nil, err
	}
	if key, err = s.full(int(kl)); err != nil {
		return nil, nil, err
	}
	vl, err := s.uvarint("value length", snapshotValueMax)
	if err != nil {
		return nil, nil, err
	}
	if value, err = s.full(int(vl)); err != nil {
		return nil, nil, err
	}
	return key, value, nil
}
