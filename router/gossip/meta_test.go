package gossip

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func metaWithClaims(n int) *pb.MemberMeta {
	m := &pb.MemberMeta{Kind: "node", Site: "sh-a", ClientAddr: "10.1.2.3:9000"}
	for i := range n {
		m.Leads = append(m.Leads, &pb.LeaderClaim{CellId: uint64(i + 1), Term: uint64(i) << 30})
	}
	return m
}

func TestEncodeMetaFitsUnchanged(t *testing.T) {
	for _, meta := range []*pb.MemberMeta{nil, {}, metaWithClaims(0), metaWithClaims(10)} {
		enc := encodeMeta(meta, memberlist.MetaMaxSize)
		if enc.claimsDropped != 0 || enc.empty {
			t.Errorf("%v: dropped %d, empty %v", meta, enc.claimsDropped, enc.empty)
		}
		if len(enc.bytes) == 0 {
			if proto.Size(meta) != 0 {
				t.Errorf("%v encoded empty", meta)
			}
			continue
		}
		got, err := decodeMeta(enc.bytes)
		if err != nil || !proto.Equal(got, meta) {
			t.Errorf("round trip of %v: %v, %v", meta, got, err)
		}
	}
}

func TestEncodeMetaDropsClaimsFromTheEnd(t *testing.T) {
	for _, limit := range []int{memberlist.MetaMaxSize, 100, 40} {
		meta := metaWithClaims(200)
		original := proto.Clone(meta)
		enc := encodeMeta(meta, limit)
		if !proto.Equal(meta, original) {
			t.Fatal("encodeMeta modified its argument")
		}
		if len(enc.bytes) > limit || enc.empty {
			t.Fatalf("limit %d: %d bytes, empty %v", limit, len(enc.bytes), enc.empty)
		}
		got, err := decodeMeta(enc.bytes)
		if err != nil {
			t.Fatal(err)
		}
		kept := len(got.Leads)
		if kept+enc.claimsDropped != 200 || enc.claimsDropped == 0 {
			t.Fatalf("limit %d: kept %d, dropped %d", limit, kept, enc.claimsDropped)
		}
		// Maximal: one more claim would not fit.
		if one := (&pb.MemberMeta{Kind: meta.Kind, Site: meta.Site, ClientAddr: meta.ClientAddr, Leads: meta.Leads[:kept+1]}); proto.Size(one) <= limit {
			t.Errorf("limit %d: kept %d claims, %d would fit", limit, kept, kept+1)
		}
		want := &pb.MemberMeta{Kind: meta.Kind, Site: meta.Site, ClientAddr: meta.ClientAddr, Leads: meta.Leads[:kept]}
		if !proto.Equal(got, want) {
			t.Errorf("limit %d: got %v, want the first %d claims", limit, got, kept)
		}
	}
}

func TestEncodeMetaTooLargeWithoutClaimsIsEmpty(t *testing.T) {
	meta := metaWithClaims(3)
	meta.Site = strings.Repeat("x", memberlist.MetaMaxSize)
	enc := encodeMeta(meta, memberlist.MetaMaxSize)
	if !enc.empty || len(enc.bytes) != 0 || enc.claimsDropped != 3 {
		t.Errorf("got %d bytes, empty %v, dropped %d", len(enc.bytes), enc.empty, enc.claimsDropped)
	}
}

func TestEncodeMetaIsDeterministic(t *testing.T) {
	a := encodeMeta(metaWithClaims(5), memberlist.MetaMaxSize)
	b := encodeMeta(metaWithClaims(5), memberlist.MetaMaxSize)
	if !bytes.Equal(a.bytes, b.bytes) {
		t.Error("same meta, different bytes: memberlist would see an update")
	}
}

func TestDecodeMeta(t *testing.T) {
	if m, err := decodeMeta(nil); m != nil || !errors.Is(err, errNoMeta) {
		t.Errorf("empty: %v, %v", m, err)
	}
	if m, err := decodeMeta([]byte{0xff, 0xff, 0xff}); m != nil || err == nil {
		t.Errorf("garbage: %v, %v", m, err)
	}
}

func TestNodeMetaWarnsOnce(t *testing.T) {
	logs := &logBuffer{}
	d := &delegate{
		name:   "n1",
		meta:   func() *pb.MemberMeta { return metaWithClaims(300) },
		logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
	for range 3 {
		if b := d.NodeMeta(memberlist.MetaMaxSize); len(b) == 0 || len(b) > memberlist.MetaMaxSize {
			t.Fatalf("NodeMeta gave %d bytes", len(b))
		}
	}
	if n := strings.Count(logs.String(), "dropped leader claims"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, logs)
	}
}

func TestLeaveNoticeRoundTrip(t *testing.T) {
	name, ok := parseLeaveNotice(leaveNotice("router-hz-a-1"))
	if !ok || name != "router-hz-a-1" {
		t.Errorf("got %q, %v", name, ok)
	}
	for _, bad := range [][]byte{nil, {}, {msgLeaveNotice}, {7, 'x'}, append([]byte{msgLeaveNotice}, strings.Repeat("x", nameBytesMax+1)...)} {
		if _, ok := parseLeaveNotice(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}
