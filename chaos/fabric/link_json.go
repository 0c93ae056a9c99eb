package fabric

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// FieldError names the field of a Link (by its JSON name) that is invalid.
type FieldError struct {
	Field   string // JSON name, e.g. "loss"; "" when the input is not a JSON object at all
	Problem string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "fabric: link: " + e.Problem
	}
	return fmt.Sprintf("fabric: link field %q: %s", e.Field, e.Problem)
}

// Validate reports every field of l out of its range at once, as *FieldError
// values joined with errors.Join; nil when l is valid. SetLink clamps such
// values instead; Validate is for input from outside (files, the proxy's API).
func (l Link) Validate() error {
	var errs []error
	if l.Delay < 0 {
		errs = append(errs, &FieldError{Field: "delay", Problem: fmt.Sprintf("%s is negative", l.Delay)})
	}
	if l.Jitter < 0 {
		errs = append(errs, &FieldError{Field: "jitter", Problem: fmt.Sprintf("%s is negative", l.Jitter)})
	}
	if math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss > 1 {
		errs = append(errs, &FieldError{Field: "loss", Problem: fmt.Sprintf("%v is not a probability in [0, 1]", l.Loss)})
	}
	if l.BandwidthBytesPerSecond < 0 {
		errs = append(errs, &FieldError{Field: "bandwidth_bytes_per_second", Problem: fmt.Sprintf("%d is negative", l.BandwidthBytesPerSecond)})
	}
	if math.IsNaN(l.Probability) || l.Probability < 0 || l.Probability > 1 {
		errs = append(errs, &FieldError{Field: "probability", Problem: fmt.Sprintf("%v is not a probability in [0, 1]", l.Probability)})
	}
	return errors.Join(errs...)
}

// linkJSON is the JSON form of a Link: durations as Go duration strings, so
// the unit is in the value ("30ms"), never implied.
type linkJSON struct {
	Delay                   string  `json:"delay"`
	Jitter                  string  `json:"jitter"`
	Cut                     bool    `json:"cut"`
	Loss                    float64 `json:"loss"`
	BandwidthBytesPerSecond int64   `json:"bandwidth_bytes_per_second"`
	Probability             float64 `json:"probability"`
}

func toJSON(l Link) linkJSON {
	return linkJSON{
		Delay: l.Delay.String(), Jitter: l.Jitter.String(), Cut: l.Cut,
		Loss: l.Loss, BandwidthBytesPerSecond: l.BandwidthBytesPerSecond, Probability: l.Probability,
	}
}

// MarshalJSON writes every field, e.g.
// {"delay":"30ms","jitter":"5ms","cut":false,"loss":0.05,"bandwidth_bytes_per_second":0,"probability":0}.
func (l Link) MarshalJSON() ([]byte, error) {
	return json.Marshal(toJSON(l))
}

// UnmarshalJSON reads the form MarshalJSON writes. Like json.Unmarshal into a
// struct, fields missing from data keep their values in l, so a partial object
// such as {"loss":0.05} changes one fault of an existing link (the proxy's
// POST /links/{from}/{to} relies on it). Unknown fields, malformed durations
// and values out of range fail with a *FieldError naming the field; l is then
// unchanged.
func (l *Link) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil // Like every json.Unmarshaler: null means no change.
	}
	wire := toJSON(*l)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wire); err != nil {
		return decodeFieldError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Problem: "trailing data after the link object"}
	}
	next := Link{Cut: wire.Cut, Loss: wire.Loss, BandwidthBytesPerSecond: wire.BandwidthBytesPerSecond, Probability: wire.Probability}
	var errs []error
	var err error
	if next.Delay, err = parseDuration("delay", wire.Delay); err != nil {
		errs = append(errs, err)
	}
	if next.Jitter, err = parseDuration("jitter", wire.Jitter); err != nil {
		errs = append(errs, err)
	}
	if err := next.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*l = next
	return nil
}

func parseDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &FieldError{Field: field, Problem: fmt.Sprintf("%q is not a duration such as \"30ms\"", s)}
	}
	return d, nil
}

// decodeFieldError turns an encoding/json error into a *FieldError naming the
// field where it can.
func decodeFieldError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		want := typeErr.Type.String()
		switch typeErr.Type.Kind().String() {
		case "string":
			want = "a duration string such as \"30ms\""
		case "float64", "int64":
			want = "a number"
		case "bool":
			want = "true or false"
		}
		return &FieldError{Field: typeErr.Field, Problem: fmt.Sprintf("got a JSON %s, want %s", typeErr.Value, want)}
	}
	// encoding/json has no error type for unknown fields, only this message.
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		return &FieldError{Field: name, Problem: "unknown field; want delay, jitter, cut, loss, bandwidth_bytes_per_second or probability"}
	}
	return &FieldError{Problem: "not a JSON link object: " + err.Error()}
}
