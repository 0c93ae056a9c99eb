package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestWriteJSONRoundTrips(t *testing.T) {
	for name, r := range map[string]Run{"sample": sampleRun(), "empty": {}} {
		var b bytes.Buffer
		if err := WriteJSON(&b, r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got Run
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: round trip differs:\n got %+v\nwant %+v", name, got, r)
		}
	}
}

func TestWriteJSONFieldNames(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pass", "scenario", "seed", "start_ns", "end_ns", "results", "seconds", "failovers", "events", "ops", "notes"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("field %q missing", name)
		}
	}
	if string(fields["pass"]) != "false" {
		t.Errorf("pass = %s, want false", fields["pass"])
	}
	if !strings.Contains(string(fields["ops"]), `"by_kind"`) || !strings.HasPrefix(b.String(), "{\n  ") {
		t.Errorf("not indented snake_case JSON:\n%.200s", b.String())
	}
}
