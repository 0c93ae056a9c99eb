package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
)

func TestParseOffset(t *testing.T) {
	for _, tt := range []struct {
		in   string
		at   time.Duration // against 20 s
		text string
	}{
		{"20%", 4 * time.Second, "20%"},
		{" 12.5 % ", 2500 * time.Millisecond, "12.5%"},
		{"0%", 0, "0%"},
		{"4s", 4 * time.Second, "4s"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"0s", 0, "0s"},
	} {
		o, err := ParseOffset(tt.in)
		if err != nil {
			t.Errorf("ParseOffset(%q): %v", tt.in, err)
			continue
		}
		if !o.IsSet() || o.At(20*time.Second) != tt.at || o.String() != tt.text {
			t.Errorf("ParseOffset(%q) = %v at %s, want %s at %s", tt.in, o, o.At(20*time.Second), tt.text, tt.at)
		}
	}
	for _, bad := range []string{"", "abc", "%", "x%", "NaN%", "Inf%", "20"} {
		if o, err := ParseOffset(bad); err == nil {
			t.Errorf("ParseOffset(%q) = %v, want an error", bad, o)
		}
	}
	if (Offset{}).IsSet() || (Offset{}).String() != "" {
		t.Error("the zero Offset is set")
	}
}

func TestDefaultScheduleIsTwentyToSixtyPercent(t *testing.T) {
	o := Options{Scenario: "fiber-cut", Duration: 10 * time.Second, Dir: t.TempDir()}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.applyDefaults()
	if w := o.window(); w.start != 2*time.Second || w.end != 6*time.Second {
		t.Fatalf("default window %s, want 2s to 6s", w)
	}
	o = Options{Scenario: "fiber-cut", Duration: 10 * time.Second, Dir: "d", FaultStart: After(0), FaultEnd: Percent(100)}
	if err := o.Validate(); err != nil {
		t.Fatalf("a window from 0 to the end of the traffic is valid: %v", err)
	}
}

// Validate reports every violation at once, each with its values.
func TestValidateReportsEveryViolation(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want []string
	}{
		{"everything wrong", Options{Scenario: "nope", Duration: 2 * time.Second, Workers: 2000, ErrorsMax: -1, RunTag: "Bad Tag",
			FaultStart: Percent(70), FaultEnd: Percent(50), QuietTimeout: -time.Second},
			[]string{`unknown scenario "nope"`, "Options.Dir is required", "Duration (2s) must be at least 3s",
				"FaultStart (70% = 1.4s) must come before Options.FaultEnd (50% = 1s)", "Workers (2000)", "ErrorsMax (-1)",
				`RunTag ("Bad Tag")`, "QuietTimeout (-1s)"}},
		{"end after the traffic", Options{Scenario: "split", Duration: 20 * time.Second, Dir: "d", FaultStart: After(5 * time.Second), FaultEnd: After(30 * time.Second)},
			[]string{"FaultEnd (30s) must be at most Options.Duration (20s)"}},
		{"empty window", Options{Scenario: "split", Duration: 20 * time.Second, Dir: "d", FaultStart: Percent(25), FaultEnd: After(5 * time.Second)},
			[]string{"FaultStart (25% = 5s) must come before Options.FaultEnd (5s)"}},
		{"out of range", Options{Scenario: "split", Duration: 20 * time.Second, Dir: "d", FaultStart: After(-time.Second), FaultEnd: Percent(150)},
			[]string{"FaultStart (-1s) is negative", "FaultEnd (150%) is not a percentage in [0%, 100%]"}},
		{"only the end given", Options{Scenario: "split", Duration: 10 * time.Second, Dir: "d", FaultEnd: Percent(10)},
			[]string{"FaultStart (20% = 2s) must come before Options.FaultEnd (10% = 1s)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.want); got != want {
				t.Errorf("%d violations reported, want %d:\n%v", got, want, err)
			}
		})
	}
}

// A scenario that crashes processes is refused, by name, on a target that
// cannot crash them, and one that needs an in-process cluster's parts on
// any other target; Run refuses it before touching the target.
func TestCrashScenariosNeedACrasher(t *testing.T) {
	target := &fakeTarget{}
	for _, sc := range Scenarios {
		err := Options{Scenario: sc.Name, Duration: 5 * time.Second, Target: target}.Validate()
		if (sc.Crashes || sc.InProcessOnly) != (err != nil) {
			t.Errorf("%s (crashes %v, in process only %v): Validate = %v", sc.Name, sc.Crashes, sc.InProcessOnly, err)
		}
		remedy := "pid files"
		if sc.InProcessOnly {
			remedy = "without --target"
		}
		if err != nil && (!strings.Contains(err.Error(), "scenario "+sc.Name) || !strings.Contains(err.Error(), remedy)) {
			t.Errorf("%s: the refusal does not name the scenario and the remedy (%s): %v", sc.Name, remedy, err)
		}
	}
	if _, err := Run(context.Background(), Options{Scenario: "node-crash", Duration: 5 * time.Second, Target: target}); err == nil {
		t.Fatal("Run played node-crash on a target without Crasher")
	}
	if target.calls > 0 {
		t.Fatalf("Run called the target %d times before refusing", target.calls)
	}
}

// fakeTarget is a Target that counts calls and can do nothing.
type fakeTarget struct{ calls int }

func (f *fakeTarget) Topology() *topology.Topology { f.calls++; return nil }
func (f *fakeTarget) ClientConfig(string) client.Config {
	f.calls++
	return client.Config{}
}
func (f *fakeTarget) Leaders(context.Context) map[uint64]string { f.calls++; return nil }
func (f *fakeTarget) MoveLeader(context.Context, uint64, string) error {
	f.calls++
	return nil
}
func (f *fakeTarget) Replicas(context.Context) map[uint64][]history.Replica { f.calls++; return nil }
func (f *fakeTarget) ReadLedger(context.Context, []string) (history.Final, error) {
	f.calls++
	return history.Final{}, nil
}
func (f *fakeTarget) Cut(string, string) error { f.calls++; return nil }
func (f *fakeTarget) Heal(string, string) error {
	f.calls++
	return nil
}
func (f *fakeTarget) Isolate(string) error    { f.calls++; return nil }
func (f *fakeTarget) CutIngress(string) error { f.calls++; return nil }
func (f *fakeTarget) HealAll() error          { f.calls++; return nil }
func (f *fakeTarget) Delay(string, string) (time.Duration, time.Duration, error) {
	f.calls++
	return 0, 0, nil
}
func (f *fakeTarget) SetDelay(string, string, time.Duration, time.Duration) error {
	f.calls++
	return nil
}
func (f *fakeTarget) SetDelayOneWay(string, string, time.Duration, time.Duration) error {
	f.calls++
	return nil
}
func (f *fakeTarget) Describe() string { return "a fake target" }
func (f *fakeTarget) Close() error     { return nil }
