package reconcile

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// ReadPayouts returns every payout recorded in a cell (by payout id), for
// MatchStatement. An undecodable record is an error naming its key.
func ReadPayouts(r Scanner) ([]*pb.PayoutRecord, error) {
	var out []*pb.PayoutRecord
	var decodeErr error
	err := r.Scan([]byte("p/"), []byte("p0"), func(k, v []byte) bool {
		rec := &pb.PayoutRecord{}
		if err := proto.Unmarshal(v, rec); err != nil {
			decodeErr = decodeError(k, "payout", err)
			return false
		}
		out = append(out, rec)
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading payouts: %w", err)
	}
	return out, nil
}
