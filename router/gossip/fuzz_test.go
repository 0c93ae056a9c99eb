package gossip

import (
	"testing"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeMeta: other members' meta is untrusted bytes; decoding must
// never panic, and whatever decodes must encode again within the limit.
func FuzzDecodeMeta(f *testing.F) {
	for _, n := range []int{0, 1, 5, 200} {
		f.Add(encodeMeta(metaWithClaims(n), memberlist.MetaMaxSize).bytes)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x22, 0x05, 0x08, 0x01}) // a claim cut short
	f.Add([]byte{0x0a, 0x7f})             // a string longer than the input
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, err := decodeMeta(b)
		if err != nil {
			if meta != nil {
				t.Fatal("meta with an error")
			}
			return
		}
		enc := encodeMeta(meta, memberlist.MetaMaxSize)
		if len(enc.bytes) > memberlist.MetaMaxSize {
			t.Fatalf("re-encoded to %d bytes", len(enc.bytes))
		}
		if len(b) <= memberlist.MetaMaxSize && enc.claimsDropped == 0 && !enc.empty {
			again, err := decodeMeta(enc.bytes)
			if len(enc.bytes) > 0 && (err != nil || !proto.Equal(again, meta)) {
				t.Fatalf("round trip: %v, %v, want %v", again, err, meta)
			}
		}
		_, _ = parseLeaveNotice(b)
	})
}
