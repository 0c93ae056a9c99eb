package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The JSON bodies of the HTTP API (doc.go lists the endpoints). Field names
// are the ones error messages name.

// resultJSON is the answer of POST /payouts and GET /payouts/{id}. It
// echoes the payout id, so a client can tell an answer about its payout
// from anything else.
type resultJSON struct {
	PayoutID    string  `json:"payout_id"`
	Outcome     Outcome `json:"outcome"`
	Reason      string  `json:"reason,omitempty"`
	ProviderRef string  `json:"provider_ref,omitempty"`
}

// errorJSON is the answer of every request that failed: what is wrong, a
// machine-readable kind, the field to blame if one is, and the payout id
// if the request named one.
type errorJSON struct {
	Error    string `json:"error"`
	Kind     string `json:"kind"`
	Field    string `json:"field,omitempty"`
	PayoutID string `json:"payout_id,omitempty"`
}

// Kinds of errorJSON. Only invalid_payout, id_reused and not_found are
// definite; a client takes every other answer for an unknown outcome.
const (
	kindBadRequest       = "bad_request"       // 400: the body is not the JSON wanted
	kindInvalidPayout    = "invalid_payout"    // 400: rejected, nothing recorded
	kindInvalidBehaviour = "invalid_behaviour" // 400
	kindIDReused         = "id_reused"         // 409: rejected, nothing paid
	kindNotFound         = "not_found"         // 404: no record of the payout id
	kindOutcomeUnknown   = "outcome_unknown"   // 503: down, hung, closed
	kindNoEndpoint       = "no_endpoint"       // 404
	kindMethod           = "method_not_allowed"
	kindUnauthorized     = "unauthorized"
)

// statementJSON is the answer of GET /statement.
type statementJSON struct {
	Provider    string           `json:"provider"`
	Entries     []StatementEntry `json:"entries"`
	SubmitCalls map[string]int   `json:"submit_calls"`
}

// healthJSON is the answer of GET /healthz. IdempotencyWindow is the
// simulator's (a Go duration such as "24h0m0s", or "forever"), for an
// operator to read: an HTTPProvider is told its window by configuration,
// never by this answer.
type healthJSON struct {
	Status            string `json:"status"`
	Provider          string `json:"provider"`
	IdempotencyWindow string `json:"idempotency_window"`
}

// idempotencyWindowText is how GET /healthz writes a window.
func idempotencyWindowText(window time.Duration) string {
	if window == IdempotencyWindowForever {
		return "forever"
	}
	return window.String()
}

// behavioursJSON is the body of POST /behaviour (absent parts stay as they
// are; an empty script clears it) and the answer of GET and POST
// /behaviour (every part present).
type behavioursJSON struct {
	Submit       *behaviourJSON        `json:"submit,omitempty"`
	SubmitScript *[]behaviourJSON      `json:"submit_script,omitempty"`
	Query        *queryBehaviourJSON   `json:"query,omitempty"`
	QueryScript  *[]queryBehaviourJSON `json:"query_script,omitempty"`
}

// behaviourJSON is a Behaviour; durations as Go durations ("1.5s").
type behaviourJSON struct {
	Mode               Mode   `json:"mode"`
	Reason             string `json:"reason,omitempty"`
	Delay              string `json:"delay,omitempty"`
	Settle             string `json:"settle,omitempty"`
	SettleReason       string `json:"settle_reason,omitempty"`
	SettleAfterQueries int    `json:"settle_after_queries,omitempty"`
}

type queryBehaviourJSON struct {
	Mode  QueryMode `json:"mode"`
	Delay string    `json:"delay,omitempty"`
}

func toBehaviourJSON(b Behaviour) behaviourJSON {
	out := behaviourJSON{Mode: b.Mode, Reason: b.Reason, SettleReason: b.SettleReason, SettleAfterQueries: b.SettleAfterQueries}
	if b.Delay != 0 {
		out.Delay = b.Delay.String()
	}
	if b.Settle != OutcomeUnknown {
		out.Settle = b.Settle.String()
	}
	return out
}

func toQueryBehaviourJSON(q QueryBehaviour) queryBehaviourJSON {
	out := queryBehaviourJSON{Mode: q.Mode}
	if q.Delay != 0 {
		out.Delay = q.Delay.String()
	}
	return out
}

// toBehavioursJSON is the full state, every part present.
func toBehavioursJSON(b Behaviours) behavioursJSON {
	submit, query := toBehaviourJSON(b.Submit), toQueryBehaviourJSON(b.Query)
	submitScript := make([]behaviourJSON, 0, len(b.SubmitScript))
	for _, s := range b.SubmitScript {
		submitScript = append(submitScript, toBehaviourJSON(s))
	}
	queryScript := make([]queryBehaviourJSON, 0, len(b.QueryScript))
	for _, q := range b.QueryScript {
		queryScript = append(queryScript, toQueryBehaviourJSON(q))
	}
	return behavioursJSON{Submit: &submit, SubmitScript: &submitScript, Query: &query, QueryScript: &queryScript}
}

// change converts a POST /behaviour body; the Sim validates the rest.
func (j behavioursJSON) change() (BehaviourChange, error) {
	var c BehaviourChange
	var errs []error
	if j.Submit != nil {
		b, err := j.Submit.behaviour("submit")
		c.Submit, errs = &b, append(errs, err)
	}
	if j.SubmitScript != nil {
		script := make([]Behaviour, 0, min(len(*j.SubmitScript), ScriptLenMax))
		for i, bj := range *j.SubmitScript {
			b, err := bj.behaviour(fmt.Sprintf("submit_script[%d]", i))
			script, errs = append(script, b), append(errs, err)
		}
		c.SubmitScript = &script
	}
	if j.Query != nil {
		q, err := j.Query.queryBehaviour("query")
		c.Query, errs = &q, append(errs, err)
	}
	if j.QueryScript != nil {
		script := make([]QueryBehaviour, 0, min(len(*j.QueryScript), ScriptLenMax))
		for i, qj := range *j.QueryScript {
			q, err := qj.queryBehaviour(fmt.Sprintf("query_script[%d]", i))
			script, errs = append(script, q), append(errs, err)
		}
		c.QueryScript = &script
	}
	return c, errors.Join(errs...)
}

func (j behaviourJSON) behaviour(field string) (Behaviour, error) {
	b := Behaviour{Mode: j.Mode, Reason: j.Reason, SettleReason: j.SettleReason, SettleAfterQueries: j.SettleAfterQueries}
	var errs []error
	var err error
	if b.Delay, err = parseDuration(field+".delay", j.Delay); err != nil {
		errs = append(errs, err)
	}
	if j.Settle != "" {
		if b.Settle, err = ParseOutcome(j.Settle); err != nil {
			errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: field + ".settle", Problem: fmt.Sprintf("%q is not SUCCEEDED, FAILED or UNKNOWN", truncate(j.Settle))})
		}
	}
	return b, errors.Join(errs...)
}

func (j queryBehaviourJSON) queryBehaviour(field string) (QueryBehaviour, error) {
	delay, err := parseDuration(field+".delay", j.Delay)
	return QueryBehaviour{Mode: j.Mode, Delay: delay}, err
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &FieldError{Kind: ErrInvalidBehaviour, Field: field, Problem: fmt.Sprintf("%q is not a duration such as 1.5s", truncate(s))}
	}
	return d, nil
}

// decodeStrict decodes exactly one JSON value from body into v: unknown
// fields, wrong types and trailing data are errors naming the field (or
// "body"), of kind kind.
func decodeStrict(body []byte, v any, kind error) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &FieldError{Kind: kind, Field: "body", Problem: "is empty; want a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err, kind)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Kind: kind, Field: "body", Problem: "has data after the JSON object"}
	}
	return nil
}

// jsonFieldError names the field a decoding error is about.
func jsonFieldError(err error, kind error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &FieldError{Kind: kind, Field: typeErr.Field, Problem: fmt.Sprintf("want a JSON %s, got %s", jsonType(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	// encoding/json has no type for an unknown field: its message is
	// `json: unknown field "name"` (%q).
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, unquoteErr := strconv.Unquote(quoted)
		if unquoteErr == nil && name != "" {
			return &FieldError{Kind: kind, Field: truncate(name), Problem: "is not a known field"}
		}
		return &FieldError{Kind: kind, Field: "body", Problem: fmt.Sprintf("has an unknown field %s", truncate(quoted))}
	}
	return &FieldError{Kind: kind, Field: "body", Problem: "is not valid JSON: " + err.Error()}
}

// jsonType names a Go kind the way a JSON author would.
func jsonType(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return goKind
}
