package topology

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid marks every error saying that a topology file or Spec is
// unusable: undecodable, or breaking a rule. Test with errors.Is; the error
// is a *ValidationError listing each violation.
var ErrInvalid = errors.New("topology: invalid")

// ViolationsMax is the most violations a ValidationError lists; the rest
// are only counted (ValidationError.Omitted). A broken generator can emit
// millions; nobody reads past the first screens.
const ViolationsMax = 1000

// Violation is one broken rule.
type Violation struct {
	// Path names the field, as in "cells[4].replicas", "slots" (a rule
	// over all cells) or "line 12" (a decoding problem). Empty when the
	// problem is the file as a whole (e.g. its size).
	Path string
	// Message says what is wrong, quoting the offending value.
	Message string
}

// String returns "path: message".
func (v Violation) String() string {
	if v.Path == "" {
		return v.Message
	}
	return v.Path + ": " + v.Message
}

// ValidationError lists every violation found, in file order. It matches
// ErrInvalid.
type ValidationError struct {
	Violations []Violation
	// Omitted counts the violations found beyond ViolationsMax.
	Omitted int
}

// Error returns one line per violation, each "topology: path: message".
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("topology: ")
		b.WriteString(v.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\ntopology: and %d more violations", e.Omitted)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// violations collects what a check finds.
type violations struct {
	list    []Violation
	omitted int
}

func (v *violations) add(path, format string, args ...any) {
	if len(v.list) >= ViolationsMax {
		v.omitted++
		return
	}
	v.list = append(v.list, Violation{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *violations) empty() bool { return len(v.list) == 0 && v.omitted == 0 }

// err returns nil or a *ValidationError.
func (v *violations) err() error {
	if v.empty() {
		return nil
	}
	return &ValidationError{Violations: v.list, Omitted: v.omitted}
}

func invalid(v Violation) error { return &ValidationError{Violations: []Violation{v}} }

// quotedLengthMax caps the bytes of a value quoted in a message, so that a
// megabyte-long id does not become a megabyte-long error.
const quotedLengthMax = 80

// quote returns s in Go quotes, shortened to quotedLengthMax bytes.
func quote(s string) string {
	if len(s) <= quotedLengthMax {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:quotedLengthMax]), len(s))
}
