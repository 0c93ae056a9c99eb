package channel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPayoutValidateNamesTheField(t *testing.T) {
	long := strings.Repeat("x", PayoutIDBytesMax+1)
	tests := []struct {
		name  string
		edit  func(*Payout)
		field string
	}{
		{"empty id", func(p *Payout) { p.ID = "" }, "id"},
		{"long id", func(p *Payout) { p.ID = long }, "id"},
		{"id with a space", func(p *Payout) { p.ID = "p 1" }, "id"},
		{"id with a slash", func(p *Payout) { p.ID = "p/1" }, "id"},
		{"id not ascii", func(p *Payout) { p.ID = "p\u00e91" }, "id"},
		{"id dot", func(p *Payout) { p.ID = "." }, "id"},
		{"id dot dot", func(p *Payout) { p.ID = ".." }, "id"},
		{"empty account", func(p *Payout) { p.Account = "" }, "account"},
		{"zero amount", func(p *Payout) { p.AmountMinor = 0 }, "amount_minor"},
		{"negative amount", func(p *Payout) { p.AmountMinor = -5 }, "amount_minor"},
		{"lower-case currency", func(p *Payout) { p.Currency = "cny" }, "currency"},
		{"short currency", func(p *Payout) { p.Currency = "CN" }, "currency"},
		{"empty currency", func(p *Payout) { p.Currency = "" }, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := payout("p-1")
			tt.edit(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidPayout) || FieldOf(err) != tt.field || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("Validate(%+v) = %v (field %q); want ErrInvalidPayout naming %q", p, err, FieldOf(err), tt.field)
			}
		})
	}
	if err := payout(strings.Repeat("x", PayoutIDBytesMax)).Validate(); err != nil {
		t.Fatalf("an id of %d bytes: %v", PayoutIDBytesMax, err)
	}
	if err := (Payout{ID: "a.b:c_d-9", Account: "A1", AmountMinor: 1, Currency: "USD"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPayoutValidateReportsEveryField(t *testing.T) {
	err := Payout{}.Validate()
	for _, field := range []string{"id:", "account:", "amount_minor:", "currency:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate of an empty payout = %q; does not name %s", err, field)
		}
	}
}

func TestOutcomeNamesAndJSON(t *testing.T) {
	for o, want := range map[Outcome]string{OutcomeUnknown: "UNKNOWN", OutcomeSucceeded: "SUCCEEDED", OutcomeFailed: "FAILED", Outcome(7): "Outcome(7)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
	if Outcome(0) != OutcomeUnknown {
		t.Fatal("the zero Outcome must be UNKNOWN: a forgotten field is never definite")
	}
	b, err := json.Marshal(Result{Outcome: OutcomeFailed, Reason: "account closed"})
	if err != nil || string(b) != `{"outcome":"FAILED","reason":"account closed"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var r Result
	if err := json.Unmarshal([]byte(`{"outcome":"SUCCEEDED"}`), &r); err != nil || r.Outcome != OutcomeSucceeded {
		t.Fatalf("Unmarshal = %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"outcome":"PAID"}`), &r); err == nil {
		t.Fatal("an unknown outcome name decoded")
	}
	if _, err := json.Marshal(Result{Outcome: Outcome(9)}); err == nil {
		t.Fatal("an out-of-range outcome encoded")
	}
}

func TestDefinite(t *testing.T) {
	tests := []struct {
		res  Result
		err  error
		want bool
	}{
		{Result{Outcome: OutcomeSucceeded}, nil, true},
		{Result{Outcome: OutcomeFailed}, nil, true},
		{Result{Outcome: OutcomeUnknown, Reason: ReasonProcessing}, nil, false},
		{Result{Outcome: OutcomeSucceeded}, ErrOutcomeUnknown, false},
		{Result{}, errors.New("connection reset"), false},
	}
	for _, tt := range tests {
		if got := Definite(tt.res, tt.err); got != tt.want {
			t.Errorf("Definite(%+v, %v) = %v, want %v", tt.res, tt.err, got, tt.want)
		}
	}
}
