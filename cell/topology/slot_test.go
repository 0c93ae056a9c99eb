package topology

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestSlotOfIsForever pins accounts to slots. If this test fails, the hash
// changed and every stored account would move to another cell: revert.
func TestSlotOfIsForever(t *testing.T) {
	pinned := map[string]int{
		"":             805,
		"alice":        2311,
		"bob":          2644,
		"acct-0000001": 3684,
		"acct-0000002": 893,
		"merchant:42":  3003,
		"用户-7":         3569,
	}
	for account, want := range pinned {
		if got := SlotOf(account); got != want {
			t.Errorf("SlotOf(%q) = %d, want %d", account, got, want)
		}
	}
}

func TestSlotOfIsFNV1a64(t *testing.T) {
	for i := range 1000 {
		account := fmt.Sprintf("account-%d-\x00\xff", i)
		h := fnv.New64a()
		h.Write([]byte(account))
		if got, want := SlotOf(account), int(h.Sum64()%Slots); got != want {
			t.Fatalf("SlotOf(%q) = %d, want %d", account, got, want)
		}
	}
}

func TestSlotRangeString(t *testing.T) {
	for _, tt := range []struct {
		r    SlotRange
		want string
		len  int
	}{
		{SlotRange{0, 4095}, "0-4095", 4096},
		{SlotRange{17, 17}, "17", 1},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.want)
		}
		if got := tt.r.Len(); got != tt.len {
			t.Errorf("%#v.Len() = %d, want %d", tt.r, got, tt.len)
		}
		if r, err := parseSlotRange(tt.want); err != nil || r != tt.r {
			t.Errorf("parseSlotRange(%q) = %v, %v", tt.want, r, err)
		}
	}
}

func BenchmarkSlotOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SlotOf("acct-0000001")
	}
}
