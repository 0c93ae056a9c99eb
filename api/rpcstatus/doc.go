// Package rpcstatus is the wire vocabulary every layer shares: the
// ErrorInfo domain, the machine-readable reasons and metadata keys of
// cellpay's gRPC errors, and the functions that build and read them
// (leader hints, stored refusals, the idempotency key of an unknown
// outcome).
//
// It is a leaf: it imports only the generated API and gRPC. Callers decide
// retries by Reason and metadata, never by an error's message text, and
// a new reason that a client must act on is added here, documented.
package rpcstatus
