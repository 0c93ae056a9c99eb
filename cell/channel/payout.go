package channel

import (
	"errors"
	"fmt"
	"strconv"
)

// Limits of the fields of a payout and of a provider's answers.
const (
	// PayoutIDBytesMax: the payout id is the provider's idempotency key;
	// the ledger's (cell.ProviderPayoutID: a cell, an account of up to 64
	// bytes and a payout id of up to 128) fit.
	PayoutIDBytesMax = 256
	// AccountBytesMax bounds the payee's account at the provider.
	AccountBytesMax = 128
	// ReasonBytesMax bounds a Result's Reason (and a simulated failure's).
	ReasonBytesMax = 256
	// ProviderRefBytesMax bounds a Result's ProviderRef.
	ProviderRefBytesMax = 128
	// NameBytesMax bounds a provider's name.
	NameBytesMax = 64
)

// ReasonProcessing is the Reason of an OutcomeUnknown answer from a provider
// that accepted a payout and has not finished it.
const ReasonProcessing = "processing"

// Payout is one payment to the outside world through a provider.
type Payout struct {
	// ID is the payout's id and the provider's idempotency key: the same
	// ID is never paid twice. Letters, digits and _ - . : (as the ledger's
	// ids), 1 to PayoutIDBytesMax bytes, not "." or "..". The charset
	// keeps an id the same through JSON, URLs and logs: an id that changed
	// on the way would be a new payout to the provider.
	ID string `json:"id"`
	// Account is the payee's account at the provider; same charset, 1 to
	// AccountBytesMax bytes.
	Account string `json:"account"`
	// AmountMinor is the amount in minor units of Currency (cents); > 0.
	AmountMinor int64 `json:"amount_minor"`
	// Currency is a 3-letter upper-case code (ISO 4217 style), e.g. "CNY".
	Currency string `json:"currency"`
}

// Validate reports every invalid field of p at once; each is a FieldError
// of kind ErrInvalidPayout.
func (p Payout) Validate() error {
	var errs []error
	if err := ValidatePayoutID(p.ID); err != nil {
		errs = append(errs, err)
	}
	if err := checkID("account", p.Account, AccountBytesMax, ErrInvalidPayout); err != nil {
		errs = append(errs, err)
	}
	if p.AmountMinor <= 0 {
		errs = append(errs, &FieldError{Kind: ErrInvalidPayout, Field: "amount_minor", Problem: fmt.Sprintf("%d is not > 0", p.AmountMinor)})
	}
	if err := checkCurrency("currency", p.Currency); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidatePayoutID checks a payout id as Payout.Validate does.
func ValidatePayoutID(id string) error {
	if err := checkID("id", id, PayoutIDBytesMax, ErrInvalidPayout); err != nil {
		return err
	}
	if id == "." || id == ".." {
		// A router that cleans paths would turn /payouts/.. into another
		// URL.
		return &FieldError{Kind: ErrInvalidPayout, Field: "id", Problem: fmt.Sprintf("%q is a path dot-segment", id)}
	}
	return nil
}

// Outcome is what a provider says happened to a payout. The zero value is
// OutcomeUnknown, so a forgotten field is never taken for a definite answer.
type Outcome int

const (
	// OutcomeUnknown: no definite answer (yet), e.g. "processing".
	OutcomeUnknown Outcome = iota
	// OutcomeSucceeded: the provider paid the payout. Definite.
	OutcomeSucceeded
	// OutcomeFailed: the provider did not pay and never will under this
	// id. Definite.
	OutcomeFailed
)

var outcomeNames = [...]string{OutcomeUnknown: "UNKNOWN", OutcomeSucceeded: "SUCCEEDED", OutcomeFailed: "FAILED"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// ParseOutcome is the inverse of String.
func ParseOutcome(s string) (Outcome, error) {
	for o, name := range outcomeNames {
		if s == name {
			return Outcome(o), nil
		}
	}
	return OutcomeUnknown, fmt.Errorf("channel: %q is not an outcome (UNKNOWN, SUCCEEDED or FAILED)", truncate(s))
}

// MarshalText writes the name; an out-of-range Outcome is an error.
func (o Outcome) MarshalText() ([]byte, error) {
	if o < 0 || int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("channel: cannot encode %v", o)
	}
	return []byte(o.String()), nil
}

// UnmarshalText reads a name written by MarshalText.
func (o *Outcome) UnmarshalText(text []byte) error {
	parsed, err := ParseOutcome(string(text))
	if err != nil {
		return err
	}
	*o = parsed
	return nil
}

// Result is a provider's answer about one payout.
type Result struct {
	Outcome Outcome `json:"outcome"`
	// Reason says why, for OutcomeFailed ("account closed") and
	// OutcomeUnknown (ReasonProcessing); free text for people.
	Reason string `json:"reason,omitempty"`
	// ProviderRef is the provider's own reference of the payout, for
	// statements and support tickets; empty when it gave none.
	ProviderRef string `json:"provider_ref,omitempty"`
}

// Definite reports whether an answer (res, err) of Submit or Query settles
// the payout: a nil error with OutcomeSucceeded or OutcomeFailed. Anything
// else leaves the payout UNKNOWN (see doc.go).
func Definite(res Result, err error) bool {
	return err == nil && (res.Outcome == OutcomeSucceeded || res.Outcome == OutcomeFailed)
}

// checkID checks an identifier: 1 to maxBytes bytes of letters, digits and
// _ - . : (the ledger's charset).
func checkID(field, v string, maxBytes int, kind error) error {
	if v == "" {
		return &FieldError{Kind: kind, Field: field, Problem: "is required"}
	}
	if len(v) > maxBytes {
		return &FieldError{Kind: kind, Field: field, Problem: fmt.Sprintf("is %d bytes, more than %d", len(v), maxBytes)}
	}
	for i := 0; i < len(v); i++ {
		if !idByte(v[i]) {
			return &FieldError{Kind: kind, Field: field, Problem: fmt.Sprintf("%q has byte %#x at %d; allowed are letters, digits and _ - . :", truncate(v), v[i], i)}
		}
	}
	return nil
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
}

func checkCurrency(field, c string) error {
	ok := len(c) == 3
	for i := 0; ok && i < len(c); i++ {
		ok = c[i] >= 'A' && c[i] <= 'Z'
	}
	if !ok {
		return &FieldError{Kind: ErrInvalidPayout, Field: field, Problem: fmt.Sprintf("%q is not a 3-letter upper-case currency code such as CNY", truncate(c))}
	}
	return nil
}

// checkText checks free text (a reason): at most maxBytes bytes of
// printable ASCII, so it survives JSON and logs unchanged.
func checkText(field, v string, maxBytes int, kind error) error {
	if len(v) > maxBytes {
		return &FieldError{Kind: kind, Field: field, Problem: fmt.Sprintf("is %d bytes, more than %d", len(v), maxBytes)}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return &FieldError{Kind: kind, Field: field, Problem: fmt.Sprintf("has byte %#x at %d; want printable ASCII", v[i], i)}
		}
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const bytesMax = 80
	if len(s) > bytesMax {
		return s[:bytesMax] + "..."
	}
	return s
}
