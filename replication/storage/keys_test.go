package storage

import (
	"bytes"
	"math"
	"testing"
)

func TestKeyLayout(t *testing.T) {
	group := GroupID(0x0102030405060708)
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"log", LogKey(group, 0x1112131415161718),
			[]byte{0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}},
		{"stable", StableKey(group, []byte("CurrentTerm")),
			append([]byte{0x02, 1, 2, 3, 4, 5, 6, 7, 8}, "CurrentTerm"...)},
		{"state", StateKey(group, []byte{0xff, 0x00}),
			[]byte{0x03, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0x00}},
		{"state empty", StateKey(group, nil), []byte{0x03, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"meta", MetaKey(group, "applied"),
			append([]byte{0x04, 1, 2, 3, 4, 5, 6, 7, 8}, "applied"...)},
	}
	for _, test := range tests {
		if !bytes.Equal(test.got, test.want) {
			t.Errorf("%s key = %x, want %x", test.name, test.got, test.want)
		}
	}
}

func TestLogKeysSortNumerically(t *testing.T) {
	indexes := []uint64{0, 1, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	for i := 1; i < len(indexes); i++ {
		if bytes.Compare(LogKey(3, indexes[i-1]), LogKey(3, indexes[i])) >= 0 {
			t.Errorf("LogKey(3, %d) does not sort before LogKey(3, %d)", indexes[i-1], indexes[i])
		}
	}
	groups := []GroupID{0, 1, 256, math.MaxUint64}
	for i := 1; i < len(groups); i++ {
		if bytes.Compare(LogKey(groups[i-1], math.MaxUint64), LogKey(groups[i], 0)) >= 0 {
			t.Errorf("group %d's last log key does not sort before group %d's first", groups[i-1], groups[i])
		}
	}
}

func TestPrefixBoundsHoldExactlyTheGroup(t *testing.T) {
	for _, group := range []GroupID{0, 1, 0xff, math.MaxUint64 - 1, math.MaxUint64} {
		checks := []struct {
			name         string
			lower, upper []byte
			inside       [][]byte
			outside      [][]byte
		}{
			{
				name:   "log",
				inside: [][]byte{LogKey(group, 0), LogKey(group, math.MaxUint64)},
				outside: [][]byte{StableKey(group, nil), StableKey(group-1, []byte{0xff}),
					LogKey(group+1, 0), LogKey(group-1, math.MaxUint64), StateKey(group, nil)},
			},
			{
				name:    "state",
				inside:  [][]byte{StateKey(group, nil), StateKey(group, []byte{0xff, 0xff, 0xff})},
				outside: [][]byte{StateKey(group+1, nil), StableKey(group, []byte{0xff}), MetaKey(group, "")},
			},
		}
		checks[0].lower, checks[0].upper = LogPrefix(group)
		checks[1].lower, checks[1].upper = StatePrefix(group)
		for _, check := range checks {
			in := func(key []byte) bool {
				return bytes.Compare(key, check.lower) >= 0 && bytes.Compare(key, check.upper) < 0
			}
			for _, key := range check.inside {
				if !in(key) {
					t.Errorf("group %d %s bounds [%x, %x) miss %x", group, check.name, check.lower, check.upper, key)
				}
			}
			for _, key := range check.outside {
				if in(key) {
					t.Errorf("group %d %s bounds [%x, %x) include %x", group, check.name, check.lower, check.upper, key)
				}
			}
		}
	}
}

func TestPrefixSuccessor(t *testing.T) {
	tests := []struct{ prefix, want []byte }{
		{[]byte{0x01, 0x00}, []byte{0x01, 0x01}},
		{[]byte{0x01, 0xff, 0xff}, []byte{0x02}},
		{[]byte{0xff, 0xff}, nil},
	}
	for _, test := range tests {
		if got := prefixSuccessor(test.prefix); !bytes.Equal(got, test.want) {
			t.Errorf("prefixSuccessor(%x) = %x, want %x", test.prefix, got, test.want)
		}
	}
}

func TestParseLogKey(t *testing.T) {
	if index, ok := parseLogKey(9, LogKey(9, 1234)); !ok || index != 1234 {
		t.Errorf("parseLogKey(9, LogKey(9, 1234)) = %d, %v", index, ok)
	}
	for _, key := range [][]byte{
		LogKey(8, 1234),                  // other group
		StableKey(9, []byte("12345678")), // other kind, same length
		append(LogKey(9, 1), 0),          // too long
		LogKey(9, 1)[:logKeyLen-1],       // too short
	} {
		if _, ok := parseLogKey(9, key); ok {
			t.Errorf("parseLogKey(9, %x) accepted a key that is not group 9's log key", key)
		}
	}
}
