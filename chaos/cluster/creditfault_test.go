package cluster

import (
	"context"
	"testing"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
)

// countingCourier records the credits that reached it.
type countingCourier struct{ delivered []string }

func (c *countingCourier) Credit(_ context.Context, _ uint64, credit *pb.CreditIn) (*pb.TransferRecord, error) {
	c.delivered = append(c.delivered, credit.GetTransferId())
	return &pb.TransferRecord{TransferId: credit.GetTransferId(), State: pb.TransferState_TRANSFER_STATE_COMPLETED}, nil
}

// The credit fault answers WRONG_CELL, never stored (so never a refusal a
// relay may reverse on), after delivering or instead of it, only for its
// cell and only while set.
func TestCreditFaultAnswersWrongCell(t *testing.T) {
	c := &Cluster{}
	inner := &countingCourier{}
	courier := c.faultableCourier(inner)
	credit := func(cellID uint64, id string) error {
		_, err := courier.Credit(context.Background(), cellID, &pb.CreditIn{TransferId: id, ToAccountId: "acct-2-0"})
		return err
	}
	c.SetCreditFault(&CreditFault{ToCell: 2, OtherCell: 3, AfterApply: func(id string) bool { return id == "applied" }})
	for _, id := range []string{"applied", "refused"} {
		err := credit(2, id)
		if rpcstatus.Reason(err) != rpcstatus.ReasonWrongCell || rpcstatus.Stored(err) || rpcstatus.Stored(err) {
			t.Fatalf("credit %s: %v (reason %q, stored %v); want WRONG_CELL, not stored", id, err, rpcstatus.Reason(err), rpcstatus.Stored(err))
		}
		if info, _ := rpcstatus.Info(err); info.GetMetadata()[rpcstatus.MetaCellID] != "3" {
			t.Errorf("credit %s names owner %v, want cell 3", id, info.GetMetadata())
		}
	}
	if err := credit(3, "other-cell"); err != nil {
		t.Fatalf("a credit into another cell: %v", err)
	}
	c.SetCreditFault(nil)
	if err := credit(2, "after"); err != nil {
		t.Fatalf("a credit after the fault ended: %v", err)
	}
	if got, want := inner.delivered, []string{"applied", "other-cell", "after"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if n := c.CreditFaultCounts(); n != (CreditFaultCounts{AfterApply: 1, Instead: 1}) {
		t.Errorf("counts %+v, want 1 after apply, 1 instead", n)
	}
}
