package gossip

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Deterministic, so that the same meta always encodes to the same bytes:
// memberlist compares meta bytes to decide whether a member was updated.
var metaMarshal = proto.MarshalOptions{Deterministic: true}

// encoded is the result of encodeMeta.
type encoded struct {
	bytes []byte
	// claimsDropped counts the LeaderClaims cut from the end to fit.
	claimsDropped int
	// empty is set when even without any claim the meta did not fit (or did
	// not encode) and nothing is advertised.
	empty bool
}

// encodeMeta encodes meta (nil encodes as empty meta) in at most limit
// bytes, dropping LeaderClaims from the end until it fits. It never fails:
// a member must always be able to gossip, if need be without meta.
func encodeMeta(meta *pb.MemberMeta, limit int) encoded {
	if meta == nil {
		return encoded{}
	}
	b, err := metaMarshal.Marshal(meta)
	if err == nil && len(b) <= limit {
		return encoded{bytes: b}
	}
	if err != nil {
		return encoded{empty: true}
	}

	// Too large: find the longest prefix of the claims that fits. The size
	// grows with the prefix length, so binary search.
	trimmed := proto.Clone(meta).(*pb.MemberMeta)
	claims := trimmed.Leads
	sizeWith := func(n int) int {
		trimmed.Leads = claims[:n]
		return metaMarshal.Size(trimmed)
	}
	low, high := 0, len(claims) // sizeWith(high) > limit is known
	if sizeWith(0) > limit {
		return encoded{empty: true, claimsDropped: len(claims)}
	}
	for high-low > 1 { // invariant: sizeWith(low) <= limit < sizeWith(high)
		mid := low + (high-low)/2
		if sizeWith(mid) <= limit {
			low = mid
		} else {
			high = mid
		}
	}
	trimmed.Leads = claims[:low]
	b, err = metaMarshal.Marshal(trimmed)
	if err != nil || len(b) > limit {
		return encoded{empty: true, claimsDropped: len(claims)}
	}
	return encoded{bytes: b, claimsDropped: len(claims) - low}
}

var errNoMeta = errors.New("gossip: member advertises no meta")

// decodeMeta decodes a member's meta. It never panics, whatever the bytes;
// an empty meta is errNoMeta.
func decodeMeta(b []byte) (*pb.MemberMeta, error) {
	if len(b) == 0 {
		return nil, errNoMeta
	}
	meta := &pb.MemberMeta{}
	if err := proto.Unmarshal(b, meta); err != nil {
		return nil, fmt.Errorf("gossip: decode member meta (%d bytes): %w", len(b), err)
	}
	return meta, nil
}
