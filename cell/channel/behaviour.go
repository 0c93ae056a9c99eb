package channel

import (
	"errors"
	"fmt"
	"time"
)

// Limits of simulator behaviours.
const (
	// DelayMax bounds Behaviour.Delay and QueryBehaviour.Delay.
	DelayMax = 10 * time.Minute
	// ScriptLenMax bounds a script of behaviours for the next calls.
	ScriptLenMax = 10_000
	// SettleAfterQueriesMax bounds Behaviour.SettleAfterQueries.
	SettleAfterQueriesMax = 1_000_000
	// DefaultFailReason is the Reason of a simulated failure without one.
	DefaultFailReason = "declined by the simulated provider"
)

// Mode is what the simulator does with one Submit call.
type Mode string

const (
	// ModeSucceed pays a new payout and answers SUCCEEDED.
	ModeSucceed Mode = "succeed"
	// ModeFail records a new payout as failed (Behaviour.Reason) without
	// paying, and answers FAILED. Definite.
	ModeFail Mode = "fail"
	// ModeTimeoutAfterSuccess pays a new payout, then hangs until the
	// caller's context is done and returns its error (the incident: the
	// money left, the caller saw a timeout).
	ModeTimeoutAfterSuccess Mode = "timeout_after_success"
	// ModeTimeoutBefore records nothing and hangs until the caller's
	// context is done.
	ModeTimeoutBefore Mode = "timeout_before"
	// ModeDown records nothing and fails at once, like a refused
	// connection.
	ModeDown Mode = "down"
	// ModeProcessing accepts a new payout without finishing it and answers
	// UNKNOWN with Reason ReasonProcessing; Queries settle it as
	// Behaviour.Settle says.
	ModeProcessing Mode = "processing"
)

var modes = []Mode{ModeSucceed, ModeFail, ModeTimeoutAfterSuccess, ModeTimeoutBefore, ModeDown, ModeProcessing}

// Behaviour is what the simulator does with one Submit call. Whatever the
// mode, a payout id the simulator remembers is never paid again: the
// succeed, fail and processing modes answer its recorded result instead,
// ModeTimeoutAfterSuccess hangs without paying, and ModeDown and
// ModeTimeoutBefore fail as usual. Only an id it does not remember (never
// submitted, or forgotten after SimConfig.IdempotencyWindow) is paid,
// failed or accepted as the mode says.
type Behaviour struct {
	Mode Mode
	// Reason is the Reason of ModeFail (default DefaultFailReason).
	Reason string
	// Delay makes the answer slow: the simulator does its work (pays,
	// fails, accepts) at once and answers after Delay, or returns the
	// context's error if it is done first (the payout stays as recorded).
	// 0 to DelayMax; ignored by the modes that hang or are down.
	Delay time.Duration
	// Settle is how a ModeProcessing payout ends: OutcomeSucceeded (paid
	// when it settles), OutcomeFailed (with SettleReason), or
	// OutcomeUnknown: it never settles and Queries answer processing for
	// ever. Only for ModeProcessing.
	Settle       Outcome
	SettleReason string
	// SettleAfterQueries is how many Queries of the payout still answer
	// processing before the one that settles it (0: the first Query
	// settles it). Only for ModeProcessing with a Settle.
	SettleAfterQueries int
}

// validate reports every problem of b, naming fields as field.name.
func (b Behaviour) validate(field string) error {
	var errs []error
	add := func(name, format string, args ...any) {
		errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: field + "." + name, Problem: fmt.Sprintf(format, args...)})
	}
	known := false
	for _, m := range modes {
		known = known || b.Mode == m
	}
	if !known {
		add("mode", "%q is not a mode; want one of %v", truncate(string(b.Mode)), modes)
	}
	if err := checkText(field+".reason", b.Reason, ReasonBytesMax, ErrInvalidBehaviour); err != nil {
		errs = append(errs, err)
	}
	if b.Reason != "" && b.Mode != ModeFail {
		add("reason", "only mode %s takes a reason", ModeFail)
	}
	if b.Delay < 0 || b.Delay > DelayMax {
		add("delay", "%s is not between 0 and %s", b.Delay, DelayMax)
	}
	if b.Mode != ModeProcessing && (b.Settle != OutcomeUnknown || b.SettleReason != "" || b.SettleAfterQueries != 0) {
		add("settle", "only mode %s settles later", ModeProcessing)
	}
	if b.Settle != OutcomeUnknown && b.Settle != OutcomeSucceeded && b.Settle != OutcomeFailed {
		add("settle", "%v is not an outcome", b.Settle)
	}
	if err := checkText(field+".settle_reason", b.SettleReason, ReasonBytesMax, ErrInvalidBehaviour); err != nil {
		errs = append(errs, err)
	}
	if b.SettleReason != "" && b.Settle != OutcomeFailed {
		add("settle_reason", "only settle %v takes a reason", OutcomeFailed)
	}
	if b.SettleAfterQueries < 0 || b.SettleAfterQueries > SettleAfterQueriesMax {
		add("settle_after_queries", "%d is not between 0 and %d", b.SettleAfterQueries, SettleAfterQueriesMax)
	}
	if b.SettleAfterQueries != 0 && b.Settle == OutcomeUnknown {
		add("settle_after_queries", "needs a settle outcome")
	}
	return errors.Join(errs...)
}

// QueryMode is what the simulator does with one Query call.
type QueryMode string

const (
	// QueryAnswer answers the truth: the payout's result, or ErrNotFound.
	QueryAnswer QueryMode = "answer"
	// QueryDown fails at once, like a refused connection.
	QueryDown QueryMode = "down"
	// QueryTimeout hangs until the caller's context is done.
	QueryTimeout QueryMode = "timeout"
	// QueryInvalid refuses the payout id as malformed, at once: an error
	// of kind ErrInvalidPayout naming the field "id", as a provider whose
	// Query validates ids differently from its Submit. It says nothing
	// about the payout, which may be paid (doc.go, callers' duty 5).
	QueryInvalid QueryMode = "invalid"
)

var queryModes = []QueryMode{QueryAnswer, QueryDown, QueryTimeout, QueryInvalid}

// QueryBehaviour is what the simulator does with one Query call.
type QueryBehaviour struct {
	Mode QueryMode
	// Delay makes QueryAnswer slow (0 to DelayMax).
	Delay time.Duration
}

func (q QueryBehaviour) validate(field string) error {
	var errs []error
	known := false
	for _, m := range queryModes {
		known = known || q.Mode == m
	}
	if !known {
		errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: field + ".mode", Problem: fmt.Sprintf("%q is not a query mode; want one of %v", truncate(string(q.Mode)), queryModes)})
	}
	if q.Delay < 0 || q.Delay > DelayMax {
		errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: field + ".delay", Problem: fmt.Sprintf("%s is not between 0 and %s", q.Delay, DelayMax)})
	}
	return errors.Join(errs...)
}

// Behaviours is everything the simulator will do: the script for the next
// calls first, one entry per call, then the standing behaviour.
type Behaviours struct {
	// Submit is what a Submit call does when SubmitScript is empty.
	Submit Behaviour
	// SubmitScript is what the next len(SubmitScript) Submit calls do, in
	// order, each call consuming one (whatever its payout).
	SubmitScript []Behaviour
	// Query is what a Query call does when QueryScript is empty.
	Query QueryBehaviour
	// QueryScript is what the next Query calls do, as SubmitScript.
	QueryScript []QueryBehaviour
}

// DefaultBehaviours: every submit succeeds, every query answers.
func DefaultBehaviours() Behaviours {
	return Behaviours{Submit: Behaviour{Mode: ModeSucceed}, Query: QueryBehaviour{Mode: QueryAnswer}}
}

// BehaviourChange changes some of a simulator's Behaviours at once; a nil
// field leaves that part as it is (an empty, non-nil script clears it).
type BehaviourChange struct {
	Submit       *Behaviour
	SubmitScript *[]Behaviour
	Query        *QueryBehaviour
	QueryScript  *[]QueryBehaviour
}

// validate reports every problem of c, with JSON field names.
func (c BehaviourChange) validate() error {
	var errs []error
	if c.Submit != nil {
		errs = append(errs, c.Submit.validate("submit"))
	}
	if c.SubmitScript != nil {
		if len(*c.SubmitScript) > ScriptLenMax {
			errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: "submit_script", Problem: fmt.Sprintf("has %d entries, more than %d", len(*c.SubmitScript), ScriptLenMax)})
		} else {
			for i, b := range *c.SubmitScript {
				errs = append(errs, b.validate(fmt.Sprintf("submit_script[%d]", i)))
			}
		}
	}
	if c.Query != nil {
		errs = append(errs, c.Query.validate("query"))
	}
	if c.QueryScript != nil {
		if len(*c.QueryScript) > ScriptLenMax {
			errs = append(errs, &FieldError{Kind: ErrInvalidBehaviour, Field: "query_script", Problem: fmt.Sprintf("has %d entries, more than %d", len(*c.QueryScript), ScriptLenMax)})
		} else {
			for i, q := range *c.QueryScript {
				errs = append(errs, q.validate(fmt.Sprintf("query_script[%d]", i)))
			}
		}
	}
	return errors.Join(errs...)
}
