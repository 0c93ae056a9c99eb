package channel

import (
	"errors"
	"fmt"
)

// Error kinds, checked with errors.Is. Every error of a Submit or Query in
// this package is one of the first four, wrapped with the provider and the
// payout id in the message (a context's error is wrapped in
// ErrOutcomeUnknown). Messages start with "channel: ".
var (
	// ErrInvalidPayout: the payout (or payout id) is malformed and was
	// rejected before anything was recorded or paid. Definite: nothing was
	// paid by this call. The error names the field (see FieldError).
	ErrInvalidPayout = errors.New("invalid payout")

	// ErrIDReused: a payout with this id was already submitted with another
	// account, amount or currency. Definite only about this call: it paid
	// nothing. It says nothing about the first payout with this id, which may
	// well be paid; see doc.go for what a caller must do.
	ErrIDReused = errors.New("payout id reused with different parameters")

	// ErrNotFound: Query of a payout id the provider has no record of. See
	// doc.go for when a caller may conclude anything from it.
	ErrNotFound = errors.New("payout not found")

	// ErrOutcomeUnknown: the call ended without a definite answer (the
	// provider is down, timed out, hung, answered 5xx or something
	// unreadable). The payout may or may not have been paid: the caller
	// records it UNKNOWN and resolves it only with Query on the same
	// provider and the same id.
	ErrOutcomeUnknown = errors.New("outcome unknown")

	// ErrInvalidConfig: a SimConfig or HTTPProviderConfig is invalid.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrInvalidBehaviour: a simulator behaviour is invalid.
	ErrInvalidBehaviour = errors.New("invalid behaviour")
)

// FieldError names the one field that is wrong, e.g. "amount_minor" or
// "submit_script[2].delay" (JSON names), and what is wrong with it. Kind is
// the error kind it belongs to (ErrInvalidPayout, ErrInvalidConfig,
// ErrInvalidBehaviour), so errors.Is works on it.
type FieldError struct {
	Kind    error
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("channel: %v: %s: %s", e.Kind, e.Field, e.Problem)
}

func (e *FieldError) Unwrap() error { return e.Kind }

// FieldOf is the field named by the first FieldError in err, or "".
func FieldOf(err error) string {
	var fieldErr *FieldError
	if errors.As(err, &fieldErr) {
		return fieldErr.Field
	}
	return ""
}
