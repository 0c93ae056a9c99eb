package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Log entry encoding, format version 1 (varints as in encoding/binary):
//
//	byte     format version (1)
//	byte     flags (bit 0: AppendedAt is set; other bits must be 0)
//	byte     raft.LogType
//	uvarint  Index
//	uvarint  Term
//	varint   AppendedAt as Unix nanoseconds (only when flag bit 0 is set)
//	uvarint  len(Data), then Data
//	uvarint  len(Extensions), then Extensions
//
// Nothing may follow. The index is stored although the key holds it too, so a
// value found under the wrong key is reported as corrupt rather than served.
// A zero AppendedAt is not encoded (flag clear) and decodes as the zero time;
// any other time decodes as time.Unix(0, nanos): same instant, local
// location, no monotonic reading, and instants outside the years 1678-2262
// (the int64 nanosecond range) are not representable.
const (
	logFormatVersion   byte = 1
	logFlagAppendedAt  byte = 1 << 0
	logFlagsKnown           = logFlagAppendedAt
	logFixedHeaderSize      = 3 // version, flags, type
)

// encodedLogSize returns the exact number of bytes encodeLog writes for l.
func encodedLogSize(l *raft.Log) int {
	size := logFixedHeaderSize + uvarintSize(l.Index) + uvarintSize(l.Term)
	if !l.AppendedAt.IsZero() {
		size += varintSize(l.AppendedAt.UnixNano())
	}
	size += uvarintSize(uint64(len(l.Data))) + len(l.Data)
	size += uvarintSize(uint64(len(l.Extensions))) + len(l.Extensions)
	return size
}

// encodeLog writes l into dst, which must be exactly encodedLogSize(l) long.
func encodeLog(dst []byte, l *raft.Log) {
	var flags byte
	if !l.AppendedAt.IsZero() {
		flags |= logFlagAppendedAt
	}
	dst[0] = logFormatVersion
	dst[1] = flags
	dst[2] = byte(l.Type)
	n := logFixedHeaderSize
	n += binary.PutUvarint(dst[n:], l.Index)
	n += binary.PutUvarint(dst[n:], l.Term)
	if flags&logFlagAppendedAt != 0 {
		n += binary.PutVarint(dst[n:], l.AppendedAt.UnixNano())
	}
	n += binary.PutUvarint(dst[n:], uint64(len(l.Data)))
	n += copy(dst[n:], l.Data)
	n += binary.PutUvarint(dst[n:], uint64(len(l.Extensions)))
	n += copy(dst[n:], l.Extensions)
	if n != len(dst) {
		// A programmer error in encodedLogSize: crash loudly rather than
		// store an entry that decodes differently.
		panic(fmt.Sprintf("storage: encodeLog wrote %d bytes into a %d-byte buffer", n, len(dst)))
	}
}

// appendLog appends the encoding of l to dst.
func appendLog(dst []byte, l *raft.Log) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, encodedLogSize(l))...)
	encodeLog(dst[start:], l)
	return dst
}

// decodeLog decodes src into a raft.Log. It never panics and never allocates
// more than len(src) bytes for Data and Extensions; the result does not alias
// src (Pebble's value buffer is only valid until its closer is closed).
// Errors describe the problem without prefix; the caller names group and
// index.
func decodeLog(src []byte) (raft.Log, error) {
	var l raft.Log
	if len(src) < logFixedHeaderSize {
		return l, fmt.Errorf("%d bytes, shorter than the %d-byte header", len(src), logFixedHeaderSize)
	}
	if src[0] != logFormatVersion {
		return l, fmt.Errorf("unknown format version %d", src[0])
	}
	flags := src[1]
	if flags&^logFlagsKnown != 0 {
		return l, fmt.Errorf("unknown flags %#x", flags)
	}
	l.Type = raft.LogType(src[2])
	r := reader{buf: src[logFixedHeaderSize:]}
	l.Index = r.uvarint("index")
	l.Term = r.uvarint("term")
	if flags&logFlagAppendedAt != 0 {
		l.AppendedAt = time.Unix(0, r.varint("appended-at time"))
	}
	data := r.bytes("data")
	extensions := r.bytes("extensions")
	if r.err != nil {
		return raft.Log{}, r.err
	}
	if len(r.buf) != 0 {
		return raft.Log{}, fmt.Errorf("%d trailing bytes", len(r.buf))
	}
	// One allocation for both byte fields; each is capped so that appending to
	// Data cannot overwrite Extensions.
	if len(data)+len(extensions) > 0 {
		both := make([]byte, len(data)+len(extensions))
		copy(both, data)
		copy(both[len(data):], extensions)
		if len(data) > 0 {
			l.Data = both[:len(data):len(data)]
		}
		if len(extensions) > 0 {
			l.Extensions = both[len(data):]
		}
	}
	return l, nil
}

// reader consumes varints and length-prefixed byte strings; after the first
// error every read returns zero values and err keeps that first error.
type reader struct {
	buf []byte
	err error
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail(field, n)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail(field, n)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// bytes returns a length-prefixed byte string aliasing the input.
func (r *reader) bytes(field string) []byte {
	length := r.uvarint(field + " length")
	if r.err != nil {
		return nil
	}
	if length > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%s length %d exceeds the %d remaining bytes", field, length, len(r.buf))
		return nil
	}
	b := r.buf[:length]
	r.buf = r.buf[length:]
	return b
}

// fail records why a varint could not be read: n == 0 means the input ended,
// n < 0 that the value overflows 64 bits.
func (r *reader) fail(field string, n int) {
	if n == 0 {
		r.err = errors.New("truncated " + field)
		return
	}
	r.err = errors.New("overflowing " + field)
}

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// varintSize mirrors binary.PutVarint's zig-zag encoding.
func varintSize(v int64) int {
	uv := uint64(v) << 1
	if v < 0 {
		uv = ^uv
	}
	return uvarintSize(uv)
}
