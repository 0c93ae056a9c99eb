package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// keyBytesMax is the longest idempotency key the ledger accepts.
const keyBytesMax = 128

// Option adjusts one mutation.
type Option func(*callOptions)

type callOptions struct {
	key, keySetBy        string // the caller's key and the option that set it
	keyConflict          string // a second, different key, if any
	allowNegativeBalance bool
	provider             string
}

func setKey(by, key string) Option {
	return func(o *callOptions) {
		if o.keySetBy != "" && o.key != key {
			o.keyConflict = fmt.Sprintf("%s(%q) conflicts with %s(%q)", by, key, o.keySetBy, o.key)
			return
		}
		o.key, o.keySetBy = key, by
	}
}

// WithIdempotencyKey sets the idempotency key of a CreateAccount or Deposit
// (on a Transfer it is the transfer id, like WithTransferID; on a Payout the
// payout id, like WithPayoutID). Without it a
// fresh random key is generated per call. Keys use [A-Za-z0-9_.:-], at most
// 128 bytes. To survive a crash of your own process, generate the key with
// NewKey and store it before the call.
func WithIdempotencyKey(key string) Option { return setKey("WithIdempotencyKey", key) }

// WithTransferID sets a Transfer's id, which is its idempotency key.
// Without it a fresh random id is generated per call.
func WithTransferID(id string) Option { return setKey("WithTransferID", id) }

// WithPayoutID sets a Payout's id, which is its idempotency key at the
// ledger and at the provider. Without it a fresh random id is generated per
// call and sent on every retry. For money leaving the ledger, choose it
// yourself: store it with your intent (the batch job's row) before the
// call, so that a crash of your process is resolved with the same id.
func WithPayoutID(id string) Option { return setKey("WithPayoutID", id) }

// WithProvider names the provider to pay through (Payout only; default:
// the cell's first configured provider, which may fall back to the next
// only after a definite failure).
func WithProvider(name string) Option {
	return func(o *callOptions) { o.provider = name }
}

// WithAllowNegativeBalance creates the account with permission to go below
// zero (CreateAccount only), e.g. for a settlement account.
func WithAllowNegativeBalance() Option {
	return func(o *callOptions) { o.allowNegativeBalance = true }
}

// NewKey returns a fresh random idempotency key: 128 bits from crypto/rand,
// hex encoded (32 characters).
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes instead)
	return hex.EncodeToString(b[:])
}

// resolveKey applies opts and returns the key to use: the caller's, checked,
// or a fresh one. field names the request field, for errors.
func resolveKey(op, field string, opts []Option) (callOptions, error) {
	var o callOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.keyConflict != "" {
		return o, invalidArgument(op, field, o.keyConflict)
	}
	if o.keySetBy == "" {
		o.key = NewKey()
		return o, nil
	}
	if reason := checkKey(o.key); reason != "" {
		return o, invalidArgument(op, field, reason)
	}
	return o, nil
}

// checkKey mirrors the ledger's rule for keys, so a bad key fails before
// any RPC. It returns "" for a good key.
func checkKey(key string) string {
	if key == "" {
		return "is empty"
	}
	if len(key) > keyBytesMax {
		return fmt.Sprintf("is %d bytes, more than %d", len(key), keyBytesMax)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
		if !ok {
			return fmt.Sprintf("has byte %#x at %d; allowed are letters, digits and _ - . :", c, i)
		}
	}
	return ""
}
