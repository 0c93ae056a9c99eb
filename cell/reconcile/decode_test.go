package reconcile

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func TestTransferFieldNumbers(t *testing.T) {
	fields := (&pb.TransferRecord{}).ProtoReflect().Descriptor().Fields()
	for name, want := range map[protoreflect.Name]protowire.Number{
		"amount_minor": transferAmountField, "currency": transferCurrencyField, "state": transferStateField,
		"from_cell_id": transferFromCellField, "to_cell_id": transferToCellField,
	} {
		f := fields.ByName(name)
		if f == nil || f.Number() != want {
			t.Fatalf("TransferRecord.%s: field %v, want number %d (decode.go is out of date)", name, f, want)
		}
	}
	if len(transferStringFields) != 5 || !transferStringFields[transferCurrencyField] {
		t.Fatalf("string fields %v", transferStringFields)
	}
}

// transferSeeds are encodings decodeTransfer must read as proto.Unmarshal
// does: real records, repeated fields (the last wins), unknown fields and
// groups, wrong wire types, truncation, invalid UTF-8, a bad tag.
func transferSeeds(t testing.TB) [][]byte {
	recs := []*pb.TransferRecord{
		{},
		{TransferId: "tx-1", FromAccountId: "a", ToAccountId: "b", AmountMinor: 2500, Currency: "CNY", State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: 1, FromBalanceAfterMinor: -3, ToBalanceAfterMinor: 9},
		{TransferId: "x-1", AmountMinor: 1 << 62, Currency: "EUR", State: pb.TransferState_TRANSFER_STATE_IN_FLIGHT, FromCellId: 1, ToCellId: 2, ReversalReason: "ü"},
		{AmountMinor: -1, State: pb.TransferState(-7), FromCellId: 1 << 63},
	}
	var seeds [][]byte
	for _, r := range recs {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	v := protowire.AppendTag
	seeds = append(seeds,
		protowire.AppendVarint(v(protowire.AppendVarint(v(nil, 4, protowire.VarintType), 5), 4, protowire.VarintType), 7),          // amount twice
		protowire.AppendBytes(v(nil, 4, protowire.BytesType), []byte("xx")),                                                        // amount as bytes: unknown
		protowire.AppendVarint(v(nil, 5, protowire.VarintType), 3),                                                                 // currency as varint: unknown
		protowire.AppendBytes(v(nil, 99, protowire.BytesType), []byte{0xff}),                                                       // unknown bytes field
		v(protowire.AppendVarint(v(v(nil, 50, protowire.StartGroupType), 4, protowire.VarintType), 1), 50, protowire.EndGroupType), // group
		v(nil, 50, protowire.StartGroupType),                                                                                       // open group
		v(nil, 50, protowire.EndGroupType),                                                                                         // stray end
		protowire.AppendBytes(v(nil, 5, protowire.BytesType), []byte{0xff, 0xfe}),                                                  // invalid UTF-8 currency
		protowire.AppendBytes(v(nil, 13, protowire.BytesType), []byte{0xc3}),                                                       // invalid UTF-8 reason
		protowire.AppendFixed32(v(nil, 6, protowire.Fixed32Type), 1),                                                               // state as fixed32
		v(nil, 4, protowire.VarintType),                                                                                            // truncated
		[]byte{0x00},                                                                                                               // field 0
		protowire.AppendVarint(nil, protowire.EncodeTag(protowire.MaxValidNumber+1, protowire.VarintType)), []byte{0x0f, 0x01},     // big number, type 7
	)
	return seeds
}

// FuzzDecodeTransfer holds decodeTransfer to proto.Unmarshal: it fails
// exactly when proto.Unmarshal fails, and otherwise reads the same values.
func FuzzDecodeTransfer(f *testing.F) {
	for _, s := range transferSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeTransfer(b)
		var rec pb.TransferRecord
		perr := proto.Unmarshal(b, &rec)
		if (err == nil) != (perr == nil) {
			t.Fatalf("decodeTransfer(%x) error %v, proto.Unmarshal %v", b, err, perr)
		}
		if err != nil {
			return
		}
		if got.amountMinor != rec.GetAmountMinor() || string(got.currency) != rec.GetCurrency() || got.state != rec.GetState() ||
			got.fromCell != rec.GetFromCellId() || got.toCell != rec.GetToCellId() {
			t.Fatalf("decodeTransfer(%x) = %+v, proto.Unmarshal %v", b, got, &rec)
		}
	})
}

// FuzzCheckCell: whatever bytes a key holds, CheckCell returns findings or
// an error naming the key, never panics.
func FuzzCheckCell(f *testing.F) {
	for _, s := range transferSeeds(f) {
		f.Add(uint8(0), s)
	}
	f.Add(uint8(3), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, which uint8, value []byte) {
		keys := []string{"t/fuzz", "a/fuzz", "o/fuzz", "s/held/CNY", "p/fuzz", "w/fuzz"}
		key := keys[int(which)%len(keys)]
		b := baseLedger(t)
		b.m.kv[key] = value
		if _, _, err := CheckCell(1, b.m, now, stuckAge); err != nil && !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Fatalf("error %v does not name key %q", err, key)
		}
	})
}
