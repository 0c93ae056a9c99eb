package cluster

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
)

// CreditFault is a fault of the cross-cell credit path: the answers a node
// whose topology file gives the accounts of cell ToCell to cell OtherCell
// (one node with another topology file) sends to a credit for them. While
// it is set (SetCreditFault), every credit a relay sends into ToCell is
// answered WRONG_CELL naming OtherCell, exactly as cell.Service answers an
// account it does not own, without a stored refusal: the answer says
// nothing about whether the credit applied. Per transfer, AfterApply
// chooses how:
//
//   - true: the credit is delivered to the payee's real leader first (it
//     applies), and the relay hears WRONG_CELL instead of its record, as
//     when the first attempt's answer is lost and the retry reaches the
//     node with the other view;
//   - false: the credit is not delivered at all (the first attempt reached
//     that node).
//
// The relay must never reverse on such an answer: the credit stays in
// flight, retried with the same transfer id, until the fault ends. The
// fault sits between each node's relay and its courier (control.Courier),
// so it tests the relay's own rule; the courier's forwarder has its own
// (a WRONG_CELL after an ambiguous attempt becomes OUTCOME_UNKNOWN).
type CreditFault struct {
	ToCell, OtherCell uint64
	// AfterApply, per transfer id; nil: never (no credit is delivered).
	AfterApply func(transferID string) bool
}

// CreditFaultCounts counts the credits a CreditFault answered WRONG_CELL,
// over the cluster's life.
type CreditFaultCounts struct {
	// AfterApply: delivered (and applied) first; Instead: not delivered.
	AfterApply, Instead int64
}

// creditFaultState is the fault in force (nil: none) and the counts; the
// couriers read it on every credit without a lock.
type creditFaultState struct {
	fault               atomic.Pointer[CreditFault]
	afterApply, instead atomic.Int64

	mu sync.Mutex
	// appliedBy: per transfer ("payer/id"), when a credit the fault answered
	// WRONG_CELL was first seen applied (Unix ns; one entry per credit).
	appliedBy map[string]int64
}

// SetCreditFault puts f in force on every node's relay (nil ends it). It
// takes effect on the next credit; credits in flight finish as they began.
func (c *Cluster) SetCreditFault(f *CreditFault) {
	if f != nil {
		copied := *f
		f = &copied
	}
	c.credit.fault.Store(f)
}

// CreditFaultCounts reports how many credits the credit faults answered
// WRONG_CELL so far.
func (c *Cluster) CreditFaultCounts() CreditFaultCounts {
	return CreditFaultCounts{AfterApply: c.credit.afterApply.Load(), Instead: c.credit.instead.Load()}
}

// CreditsAppliedBy returns, per cross-cell transfer ("payer/id"), when a
// credit the fault delivered before answering WRONG_CELL was first seen
// applied (Unix ns, the harness's clock): it took effect before then.
func (c *Cluster) CreditsAppliedBy() map[string]int64 {
	c.credit.mu.Lock()
	defer c.credit.mu.Unlock()
	return maps.Clone(c.credit.appliedBy)
}

// faultableCourier wraps a node's courier with the cluster's credit fault.
func (c *Cluster) faultableCourier(inner cell.Courier) cell.Courier {
	return &faultCourier{inner: inner, state: &c.credit}
}

type faultCourier struct {
	inner cell.Courier
	state *creditFaultState
}

// Credit implements cell.Courier.
func (f *faultCourier) Credit(ctx context.Context, cellID uint64, credit *pb.CreditIn) (*pb.TransferRecord, error) {
	fault := f.state.fault.Load()
	if fault == nil || cellID != fault.ToCell {
		return f.inner.Credit(ctx, cellID, credit)
	}
	if fault.AfterApply != nil && fault.AfterApply(credit.GetTransferId()) {
		if _, err := f.inner.Credit(ctx, cellID, credit); err != nil {
			return nil, err // not delivered: the relay handles the real answer
		}
		f.state.afterApply.Add(1)
		f.state.sawApplied(credit.GetFromAccountId()+"/"+credit.GetTransferId(), time.Now().UnixNano())
	} else {
		f.state.instead.Add(1)
	}
	return nil, wrongCell(credit.GetToAccountId(), cellID, fault.OtherCell)
}

func (s *creditFaultState) sawApplied(ref string, nowNs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appliedBy == nil {
		s.appliedBy = map[string]int64{}
	}
	if _, seen := s.appliedBy[ref]; !seen {
		s.appliedBy[ref] = nowNs
	}
}

// wrongCell is the answer cell.Service gives a request for an account it
// believes another cell owns: FAILED_PRECONDITION, reason WRONG_CELL, the
// owner it believes in, and no "stored" mark.
func wrongCell(account string, asked, owner uint64) error {
	st := status.New(codes.FailedPrecondition, fmt.Sprintf("to_account_id %q belongs to cell %d, not cell %d", account, owner, asked))
	info := &errdetails.ErrorInfo{Reason: rpcstatus.ReasonWrongCell, Domain: rpcstatus.ErrorDomain,
		Metadata: map[string]string{rpcstatus.MetaField: "to_account_id", rpcstatus.MetaCellID: strconv.FormatUint(owner, 10)}}
	if withInfo, err := st.WithDetails(info); err == nil {
		st = withInfo
	}
	return st.Err()
}
