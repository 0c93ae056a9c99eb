package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// moneyRoutes are the routes whose body has a money field, each with the
// rest of a valid body and the amount the server got.
var moneyRoutes = []struct {
	target, method, rest string
	amount               func(proto.Message) int64
}{
	{"/v1/deposits", "Deposit", `"idempotency_key":"dep-1","account_id":"alice","currency":"CNY"`,
		func(m proto.Message) int64 { return m.(*pb.Deposit).GetAmountMinor() }},
	{"/v1/transfers", "Transfer", `"transfer_id":"t-1","from_account_id":"alice","to_account_id":"bob","currency":"CNY"`,
		func(m proto.Message) int64 { return m.(*pb.Transfer).GetAmountMinor() }},
	{"/v1/payouts", "Payout", `"payout_id":"po-1","account_id":"alice","currency":"CNY"`,
		func(m proto.Message) int64 { return m.(*pb.Payout).GetAmountMinor() }},
}

func TestMoneyFieldAcceptedForms(t *testing.T) {
	for _, route := range moneyRoutes {
		for _, tc := range []struct {
			value string // raw JSON
			want  int64
		}{
			{`"1500"`, 1500},
			{`1500`, 1500},
			{`"0"`, 0},
			{`0`, 0},
			// The handler checks the form only; the ledger refuses a
			// non-positive amount (AMOUNT_NOT_POSITIVE).
			{`"-5"`, -5},
			{`-5`, -5},
			{`"9223372036854775807"`, 9223372036854775807},
			{`9223372036854775807`, 9223372036854775807},
			{`"-9223372036854775808"`, -9223372036854775808},
			{`-9223372036854775808`, -9223372036854775808},
			// The value of a JSON string counts, escapes decoded, as for
			// protojson.
			{`"\u0031\u0035"`, 15},
		} {
			for _, name := range []string{"amount_minor", "amountMinor"} {
				t.Run(route.method+"/"+name+"="+tc.value, func(t *testing.T) {
					srv := newFakeServer()
					res := do(t, New(srv, Config{}), request{method: "POST", target: route.target,
						body: "{" + route.rest + `,"` + name + `":` + tc.value + "}"})
					if res.status != http.StatusOK {
						t.Fatalf("status %d: %s", res.status, res.raw)
					}
					if got := route.amount(srv.onlyCall(t, route.method).req); got != tc.want {
						t.Fatalf("server got amount_minor %d, want %d", got, tc.want)
					}
				})
			}
		}
	}
}

func TestMoneyFieldRefusedForms(t *testing.T) {
	const notDecimal, outOfRange = "is not a decimal integer of minor units", "is outside the range"
	for _, route := range moneyRoutes {
		for _, tc := range []struct {
			value, why string // raw JSON; what the message says
		}{
			{`"1e3"`, notDecimal},
			{`1e3`, notDecimal},
			{`1E3`, notDecimal},
			{`1e+3`, notDecimal},
			{`15e-1`, notDecimal},
			{`1e400`, notDecimal},
			{`"1.0"`, notDecimal},
			{`1.0`, notDecimal},
			{`1.5`, notDecimal},
			{`"+5"`, notDecimal},
			{`"007"`, notDecimal},
			{`"00"`, notDecimal},
			{`"-0"`, notDecimal},
			{`-0`, notDecimal},
			{`"-"`, notDecimal},
			{`"--5"`, notDecimal},
			{`""`, notDecimal},
			{`" 5"`, notDecimal},
			{`"5 "`, notDecimal},
			{`"5\n"`, notDecimal},
			{`"1_000"`, notDecimal},
			{`"1,000"`, notDecimal},
			{`"0x10"`, notDecimal},
			{`"\u0661\u0665"`, notDecimal}, // Arabic-Indic digits
			{`"Infinity"`, notDecimal},
			{`"NaN"`, notDecimal},
			{`null`, notDecimal}, // protojson would take it as 0
			{`true`, notDecimal},
			{`{}`, notDecimal},
			{`[1500]`, notDecimal},
			{`"9223372036854775808"`, outOfRange},
			{`9223372036854775808`, outOfRange},
			{`-9223372036854775809`, outOfRange},
			{`"` + strings.Repeat("9", 200) + `"`, outOfRange},
		} {
			for _, name := range []string{"amount_minor", "amountMinor"} {
				t.Run(route.method+"/"+name+"="+tc.value, func(t *testing.T) {
					srv := newFakeServer()
					res := do(t, New(srv, Config{}), request{method: "POST", target: route.target,
						body: "{" + route.rest + `,"` + name + `":` + tc.value + "}"})
					// The field is named by its proto name whichever name the body used.
					e := res.wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "amount_minor")
					if msg := e["message"].(string); !strings.Contains(msg, tc.why) || !strings.HasPrefix(msg, "httpapi: invalid amount_minor: ") {
						t.Fatalf("message %q, want one naming amount_minor and saying it %s", msg, tc.why)
					}
					if calls := srv.callsMade(); len(calls) != 0 {
						t.Fatalf("server called for a refused amount: %v", calls)
					}
				})
			}
		}
	}
}

// Every occurrence is checked, wherever it is: protojson would refuse a
// duplicate too, but the money refusal comes first and names the field.
func TestMoneyFieldCheckedWhereverItIs(t *testing.T) {
	for name, body := range map[string]string{
		"second of two names": `{"transfer_id":"t-1","amount_minor":"5","amountMinor":"1e3"}`,
		"after nested junk":   `{"transfer_id":"t-1","junk":{"a":[1,{"b":"c"}]},"amount_minor":1e3}`,
		"first field":         `{"amount_minor":1.0,"transfer_id":"t-1"}`,
		"escaped name":        `{"transfer_id":"t-1","amount\u005fminor":"1e3"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer()
			do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers", body: body}).
				wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "amount_minor")
			if calls := srv.callsMade(); len(calls) != 0 {
				t.Fatalf("server called: %v", calls)
			}
		})
	}
}

// CreateAccount has no money field: a balance cannot be set by opening an
// account, and a made-up _minor field is an unknown field.
func TestAccountBodyHasNoMoneyField(t *testing.T) {
	srv := newFakeServer()
	do(t, New(srv, Config{}), request{method: "POST", target: "/v1/accounts",
		body: `{"idempotency_key":"a-1","account_id":"alice","currency":"CNY","balance_minor":"1e3"}`}).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", ReasonMalformedJSON, "balance_minor")
	if calls := srv.callsMade(); len(calls) != 0 {
		t.Fatalf("server called: %v", calls)
	}
}

// requestBodies are the messages the handler decodes from bodies (one per
// POST route in handler.go); keep this list in step with it.
var requestBodies = []proto.Message{&pb.CreateAccount{}, &pb.Deposit{}, &pb.Transfer{}, &pb.Payout{}}

// The money check reads only top-level fields, and its range is int64's:
// a request body that gained a nested message, or a money field of another
// type, needs the check taught first.
func TestMoneyCheckCoversEveryRequestBody(t *testing.T) {
	wantMoney := map[protoreflect.FullName][]string{
		"cellpay.v1.Deposit": {"amount_minor"}, "cellpay.v1.Transfer": {"amount_minor"}, "cellpay.v1.Payout": {"amount_minor"},
	}
	for _, m := range requestBodies {
		md := m.ProtoReflect().Descriptor()
		var money []string
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.Message() != nil {
				t.Errorf("%s.%s is a message: checkMoney does not read inside it", md.FullName(), fd.Name())
			}
			if strings.HasSuffix(string(fd.Name()), moneySuffix) {
				money = append(money, string(fd.Name()))
				if fd.Kind() != protoreflect.Int64Kind || fd.IsList() {
					t.Errorf("%s.%s is a money field of kind %s (list %v), want a single int64", md.FullName(), fd.Name(), fd.Kind(), fd.IsList())
				}
			}
		}
		if got, want := strings.Join(money, ","), strings.Join(wantMoney[md.FullName()], ","); got != want {
			t.Errorf("%s money fields = %q, want %q (add new ones to the tests)", md.FullName(), got, want)
		}
	}
}

// A message field is answered 500 before anything is forwarded: its money
// fields, if any, would go unchecked.
func TestMoneyCheckRefusesMessageFields(t *testing.T) {
	md := (&pb.TransferRequest{}).ProtoReflect().Descriptor() // has a Transfer command inside
	refusal, scanErr := checkMoney([]byte(`{"cell_id":"1","command":{"amount_minor":"1e3"}}`), md)
	if scanErr != nil || refusal == nil || refusal.HTTPStatus != http.StatusInternalServerError || refusal.Reason != ReasonInternal {
		t.Fatalf("refusal %+v scanErr %v, want 500 INTERNAL", refusal, scanErr)
	}
}

// A body the check cannot read through gives a scan error, not a verdict:
// protojson's message describes those faults, and the handler refuses such a
// body even should protojson accept it.
func TestMoneyCheckScanErrors(t *testing.T) {
	md := (&pb.Transfer{}).ProtoReflect().Descriptor()
	deep := `{"junk":` + strings.Repeat("[", jsonNestingDepthMax+1) + strings.Repeat("]", jsonNestingDepthMax+1) + `,"amount_minor":"5"}`
	for name, body := range map[string]string{
		"empty":         ``,
		"not an object": `[1]`,
		"truncated":     `{"transfer_id":"t`,
		"unclosed":      `{"transfer_id":"t-1"`,
		"bad token":     `{"amount_minor" 5}`,
		"too deep":      deep,
	} {
		t.Run(name, func(t *testing.T) {
			refusal, scanErr := checkMoney([]byte(body), md)
			if refusal != nil || scanErr == nil {
				t.Fatalf("refusal %+v scanErr %v, want a scan error only", refusal, scanErr)
			}
			if name == "too deep" && !errors.Is(scanErr, errNestingTooDeep) {
				t.Fatalf("scanErr %v, want errNestingTooDeep", scanErr)
			}
		})
	}
	t.Run("at the depth limit", func(t *testing.T) {
		body := `{"junk":` + strings.Repeat("[", jsonNestingDepthMax) + strings.Repeat("]", jsonNestingDepthMax) + `,"amount_minor":"5"}`
		if refusal, scanErr := checkMoney([]byte(body), md); refusal != nil || scanErr != nil {
			t.Fatalf("refusal %+v scanErr %v, want neither", refusal, scanErr)
		}
	})
	t.Run("deep body over HTTP", func(t *testing.T) {
		srv := newFakeServer()
		do(t, New(srv, Config{}), request{method: "POST", target: "/v1/transfers", body: deep,
			headers: map[string]string{HeaderIdempotencyKey: "t-1"}}).
			wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", ReasonMalformedJSON, "junk")
		if calls := srv.callsMade(); len(calls) != 0 {
			t.Fatalf("server called: %v", calls)
		}
	})
}
