package reconcile

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// A cell holds one TransferRecord per transfer, millions of them, and
// CheckCell needs five of their thirteen fields. Decoding them with
// proto.Unmarshal allocates the record and its strings and took ~40% of a
// check (docs/BENCHMARKS.md); transferFields reads the wire format in
// place instead, with proto.Unmarshal's semantics (the last value of a
// field wins, a field with an unexpected wire type is an unknown field,
// malformed input and invalid UTF-8 in a string field are errors).
// FuzzDecodeTransfer holds it to proto.Unmarshal.

// Field numbers of the TransferRecord fields CheckCell reads
// (api/cellpay/v1/ledger.proto; TestTransferFieldNumbers checks them).
const (
	transferAmountField    protowire.Number = 4
	transferFromAfterField protowire.Number = 8
	transferCurrencyField  protowire.Number = 5
	transferStateField     protowire.Number = 6
	transferFromCellField  protowire.Number = 10
	transferToCellField    protowire.Number = 11
)

// transferStringFields marks the string fields of TransferRecord, whose
// UTF-8 proto.Unmarshal validates, from its descriptor.
var transferStringFields = stringFields((&pb.TransferRecord{}).ProtoReflect().Descriptor())

func stringFields(d protoreflect.MessageDescriptor) map[protowire.Number]bool {
	m := map[protowire.Number]bool{}
	fields := d.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.Kind() == protoreflect.StringKind {
			m[f.Number()] = true
		}
	}
	return m
}

// transferFields are the fields of a TransferRecord CheckCell uses.
type transferFields struct {
	amountMinor      int64
	currency         []byte // aliases the decoded value
	state            pb.TransferState
	fromCell, toCell uint64
	// fromBalanceAfterMinor: the payer's balance after the debit (an
	// incoming credit's is 0: the payer is in another cell).
	fromBalanceAfterMinor int64
}

var errMalformed = errors.New("malformed protobuf")

// decodeTransfer reads the fields of a marshaled TransferRecord; it fails
// exactly when proto.Unmarshal fails.
func decodeTransfer(b []byte) (transferFields, error) {
	var f transferFields
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return f, fmt.Errorf("%w: %v", errMalformed, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return f, fmt.Errorf("%w: field number %d", errMalformed, num)
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == transferAmountField || num == transferStateField || num == transferFromCellField || num == transferToCellField || num == transferFromAfterField):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return f, fmt.Errorf("%w: field %d: %v", errMalformed, num, protowire.ParseError(n))
			}
			switch num {
			case transferAmountField:
				f.amountMinor = int64(v)
			case transferStateField:
				f.state = pb.TransferState(int32(v))
			case transferFromCellField:
				f.fromCell = v
			case transferToCellField:
				f.toCell = v
			case transferFromAfterField:
				f.fromBalanceAfterMinor = int64(v)
			}
			b = b[n:]
		case typ == protowire.BytesType && transferStringFields[num]:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return f, fmt.Errorf("%w: field %d: %v", errMalformed, num, protowire.ParseError(n))
			}
			if !utf8.Valid(v) {
				return f, fmt.Errorf("%w: field %d: invalid UTF-8", errMalformed, num)
			}
			if num == transferCurrencyField {
				f.currency = v
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return f, fmt.Errorf("%w: field %d: %v", errMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return f, nil
}
