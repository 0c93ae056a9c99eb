package fabric

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLinkJSONRoundTrip(t *testing.T) {
	t.Parallel()
	l := Link{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, Cut: true, Loss: 0.05, BandwidthBytesPerSecond: 51200, Probability: 0.25}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"delay":"30ms","jitter":"5ms","cut":true,"loss":0.05,"bandwidth_bytes_per_second":51200,"probability":0.25}`
	if string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
	var back Link
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Fatalf("round trip = (%+v, %v), want %+v", back, err, l)
	}
}

func TestLinkJSONMissingFieldsKeepTheirValues(t *testing.T) {
	t.Parallel()
	l := Link{Delay: time.Second, Cut: true}
	if err := json.Unmarshal([]byte(`{"loss":0.5,"jitter":"1ms"}`), &l); err != nil {
		t.Fatal(err)
	}
	if want := (Link{Delay: time.Second, Jitter: time.Millisecond, Cut: true, Loss: 0.5}); l != want {
		t.Fatalf("link = %+v, want %+v", l, want)
	}
	if err := json.Unmarshal([]byte(`{"probability":0.3}`), &l); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"cut":false}`), &l); err != nil {
		t.Fatal(err)
	}
	if want := (Link{Delay: time.Second, Jitter: time.Millisecond, Loss: 0.5, Probability: 0.3}); l != want {
		t.Fatalf("after setting probability, then cut alone: link = %+v, want %+v", l, want)
	}
	if err := json.Unmarshal([]byte(`null`), &l); err != nil || l.Delay != time.Second {
		t.Fatalf("null: (%+v, %v), want no change", l, err)
	}
}

func TestLinkJSONErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, field string }{
		{`{"delay":"soon"}`, "delay"},
		{`{"delay":30}`, "delay"},
		{`{"jitter":"-1ms"}`, "jitter"},
		{`{"loss":1.5}`, "loss"},
		{`{"loss":-0.1}`, "loss"},
		{`{"loss":"high"}`, "loss"},
		{`{"bandwidth_bytes_per_second":-1}`, "bandwidth_bytes_per_second"},
		{`{"bandwidth_bytes_per_second":1.5}`, "bandwidth_bytes_per_second"},
		{`{"cut":"yes"}`, "cut"},
		{`{"probability":1.5}`, "probability"},
		{`{"probability":-0.1}`, "probability"},
		{`{"probability":"half"}`, "probability"},
		{`{"latency":"30ms"}`, "latency"},
		{`[1,2]`, ""},
		{`{"delay":`, ""},
		{`{} {}`, ""},
	}
	for _, tt := range tests {
		before := Link{Delay: time.Hour}
		l := before
		err := l.UnmarshalJSON([]byte(tt.in)) // json.Unmarshal would reject bad syntax itself.
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a *FieldError", tt.in, err)
			continue
		}
		if fe.Field != tt.field {
			t.Errorf("%s: field %q (%v), want %q", tt.in, fe.Field, err, tt.field)
		}
		if l != before {
			t.Errorf("%s: a failed decode changed the link to %+v", tt.in, l)
		}
	}
}

func TestValidateReportsEverythingAtOnce(t *testing.T) {
	t.Parallel()
	err := Link{Delay: -1, Jitter: -1, Loss: math.NaN(), BandwidthBytesPerSecond: -1, Probability: 1.5}.Validate()
	for _, field := range []string{`"delay"`, `"jitter"`, `"loss"`, `"bandwidth_bytes_per_second"`, `"probability"`} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "1.5") {
		t.Errorf("Validate() = %v, want it to give the probability's value 1.5", err)
	}
	for _, probability := range []float64{-0.01, 1.01, math.NaN(), math.Inf(1)} {
		err := Link{Probability: probability}.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "probability" {
			t.Errorf("Validate(probability %v) = %v, want a *FieldError for probability", probability, err)
		}
	}
	for _, valid := range []Link{{Loss: 1, Delay: time.Hour}, {Probability: 0}, {Probability: 0.5}, {Probability: 1}} {
		if err := valid.Validate(); err != nil {
			t.Errorf("valid link %+v: %v", valid, err)
		}
	}
}

func TestSetLinkClampsNewFields(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	f.SetLink("a", "b", Link{Loss: 2, BandwidthBytesPerSecond: -5})
	if got := f.Link("a", "b"); got != (Link{Loss: 1}) {
		t.Fatalf("link = %+v, want loss clamped to 1, bandwidth to 0", got)
	}
	f.SetLink("a", "b", Link{Loss: math.NaN()})
	if got := f.Link("a", "b"); got != (Link{}) {
		t.Fatalf("link = %+v, want NaN loss to count as zero", got)
	}
	for _, tt := range []struct{ in, want float64 }{{2, 1}, {-1, 0}, {math.NaN(), 0}, {math.Inf(-1), 0}, {0.4, 0.4}} {
		f.SetLink("a", "b", Link{Cut: true, Probability: tt.in})
		if got := f.Link("a", "b"); got != (Link{Cut: true, Probability: tt.want}) {
			t.Fatalf("SetLink(probability %v) = %+v, want the probability clamped to %v", tt.in, got, tt.want)
		}
	}
	f.SetLink("a", "b", Link{Loss: 0.1, BandwidthBytesPerSecond: 10, Probability: 0.5})
	f.Cut("a", "b")
	f.SetDelay("a", "b", time.Millisecond, 0)
	f.Heal("a", "b")
	if got, want := f.Link("a", "b"), (Link{Delay: time.Millisecond, Loss: 0.1, BandwidthBytesPerSecond: 10, Probability: 0.5}); got != want {
		t.Fatalf("cut, delay and heal must keep loss, bandwidth and probability: %+v, want %+v", got, want)
	}
}

// FuzzLinkJSON: no input panics; what decodes is valid and round-trips.
func FuzzLinkJSON(f *testing.F) {
	for _, seed := range []string{
		`{"delay":"30ms","jitter":"5ms","cut":true,"loss":0.05,"bandwidth_bytes_per_second":51200,"probability":0.5}`,
		`{"probability":1}`, `{"probability":1e-320}`, `{"loss":1e308}`, `{"delay":"-1ns"}`, `{"delay":"9223372036854775807ns"}`, `null`, `{}`, `[]`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Link
		if err := l.UnmarshalJSON(data); err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("%q decoded to an invalid link %+v: %v", data, l, err)
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back Link
		if err := json.Unmarshal(b, &back); err != nil || back != l {
			t.Fatalf("%+v round-trips to (%+v, %v)", l, back, err)
		}
	})
}
