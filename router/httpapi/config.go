package httpapi

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and limits of Config.
const (
	// DefaultBodyBytesMax bounds a request body: the largest valid command
	// (a deposit with a 256-byte external reference) is well under 1 KiB.
	DefaultBodyBytesMax int64 = 64 << 10
	// DefaultRequestTimeout is the deadline of one PaymentsServer call.
	DefaultRequestTimeout = 5 * time.Second

	// bodyBytesMaxLimit and requestTimeoutLimit fence the options: a bigger
	// value is a typo (bytes for KiB, ms for s) rather than a choice.
	bodyBytesMaxLimit   int64 = 16 << 20
	requestTimeoutLimit       = 5 * time.Minute
)

// Config tunes the handler. The zero value of a field means its default.
type Config struct {
	// BodyBytesMax is the largest request body accepted; a larger one is
	// answered 413 BODY_TOO_LARGE without being read to the end.
	// Default DefaultBodyBytesMax (64 KiB), at most 16 MiB.
	BodyBytesMax int64
	// RequestTimeout is the deadline of the context given to the
	// PaymentsServer call. A client may shorten it (never lengthen it) with
	// the X-Request-Timeout-Ms header. Default DefaultRequestTimeout (5 s),
	// at most 5 minutes.
	RequestTimeout time.Duration
}

// DefaultConfig returns a Config with every field set to its default.
func DefaultConfig() Config {
	return Config{BodyBytesMax: DefaultBodyBytesMax, RequestTimeout: DefaultRequestTimeout}
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.BodyBytesMax == 0 {
		c.BodyBytesMax = DefaultBodyBytesMax
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// Validate reports every invalid field of c (after defaults), or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.BodyBytesMax < 0 || c.BodyBytesMax > bodyBytesMaxLimit {
		errs = append(errs, fmt.Errorf("httpapi: BodyBytesMax (%d) must be between 1 and %d", c.BodyBytesMax, bodyBytesMaxLimit))
	}
	if c.RequestTimeout < 0 || c.RequestTimeout > requestTimeoutLimit {
		errs = append(errs, fmt.Errorf("httpapi: RequestTimeout (%s) must be between 1ns and %s", c.RequestTimeout, requestTimeoutLimit))
	}
	return errors.Join(errs...)
}
