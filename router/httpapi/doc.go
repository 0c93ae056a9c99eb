// Package httpapi serves the public Payments API over HTTP/JSON: a small
// http.Handler that decodes each request, calls a pb.PaymentsServer in
// process (the router's own implementation) and encodes its answer.
//
// # Routes
//
//	POST /v1/accounts                          CreateAccount  -> Account
//	POST /v1/deposits                          Deposit        -> DepositRecord
//	POST /v1/transfers                         Transfer       -> TransferRecord
//	GET  /v1/accounts/{account_id}                            -> Account
//	GET  /v1/accounts/{account_id}/transfers?page_size=N&page_token=T
//	                                                          -> ListTransfersResponse
//	GET  /v1/transfers/{transfer_id}?from_account_id=A        -> TransferRecord
//	POST /v1/payouts                           Payout         -> PayoutRecord
//	GET  /v1/payouts/{payout_id}?account_id=A                 -> PayoutRecord
//	GET  /v1/payouts?state=S&cell_id=N&page_size=N&page_token=T
//	                                                          -> ListPayoutsResponse
//
// The state of a payout listing is pending, succeeded, failed or unknown
// (case-insensitive; PAYOUT_STATE_UNKNOWN is accepted too), or absent for
// every state; cell_id absent or 0 lists every cell (docs/PAYOUTS.md).
//
// Bodies are the protobuf messages of api/cellpay/v1 in protojson form.
// Requests: Content-Type application/json (a charset other than UTF-8 is
// refused), at most Config.BodyBytesMax bytes, unknown fields refused;
// field names may be proto names (from_account_id) or JSON names
// (fromAccountId); amounts follow the input rules below. Responses use
// proto names and emit every field, int64 as strings and enums by name
// ("TRANSFER_STATE_COMPLETED"). A route accepts only the query parameters
// listed above, each at most once.
//
// # Input rules
//
// A money field (a name ending in _minor: amount_minor) is an int64 of
// minor units, sent as a JSON string ("1500") or number (1500) of one
// canonical decimal spelling: an optional '-', then "0" or digits without a
// leading zero. Exponents (1e3), fractions (1.0), '+', leading zeros
// ("007"), "-0", spaces, null and values outside int64 are refused 400
// INVALID_ARGUMENT naming the field (by its proto name), before protojson
// decodes the body and before the server is called (money.go says why).
//
// POST /v1/accounts with allow_negative_balance true is refused 403
// PERMISSION_DENIED (field allow_negative_balance) by the router's server
// and reaches no cell: until API clients authenticate, overdraft accounts
// are opened by an operator (cellpay account create --overdraft).
//
// # Idempotency
//
// Every mutation needs a key, so that a retry cannot pay twice. The
// Idempotency-Key header fills idempotency_key (CreateAccount, Deposit),
// transfer_id (Transfer: a transfer's id is its key) or payout_id (Payout:
// the key here and at the provider) when the body has none; both may be
// given only if equal. A mutation with no key is refused 400 (field
// idempotency_key, transfer_id or payout_id) before the server is called.
// After a timeout or a 503, retry with the same key, never a new one.
//
// # Deadline
//
// The server call gets a context deadline of Config.RequestTimeout (5 s by
// default); a client may ask for less with X-Request-Timeout-Ms.
//
// # Errors
//
// Every error, including those of the handler itself, is a JSON body
//
//	{"error": {"code": "FAILED_PRECONDITION", "http_status": 409,
//	  "reason": "INSUFFICIENT_FUNDS", "message": "...", "field": "amount_minor"}}
//
// where code is the canonical gRPC code name, reason the machine-readable
// reason of the server's google.rpc.ErrorInfo (domain "cellpay"; the code
// name when it has none) and field the request field at fault (omitted when
// none). The server's gRPC codes map to HTTP statuses as follows:
//
//	INVALID_ARGUMENT     400
//	NOT_FOUND            404
//	ALREADY_EXISTS       409
//	FAILED_PRECONDITION  409 (422 for reason IDEMPOTENCY_KEY_REUSED)
//	UNAVAILABLE          503 with Retry-After: 1
//	DEADLINE_EXCEEDED    504
//	UNAUTHENTICATED      401
//	PERMISSION_DENIED    403
//	RESOURCE_EXHAUSTED   429
//	UNIMPLEMENTED        501
//	CANCELLED            499
//	any other            500
//
// The handler's own answers: 400 MALFORMED_JSON (protojson's message; an
// unknown field is named in field), 400 INVALID_ARGUMENT (an amount not
// spelled as above, a missing or conflicting key, a bad page_size, state or
// cell_id, an unknown query parameter, a bad X-Request-Timeout-Ms), 400 BODY_UNREADABLE, 413 BODY_TOO_LARGE,
// 415 UNSUPPORTED_MEDIA_TYPE, 404 NOT_FOUND (no route, or a path not in
// canonical form), 405 METHOD_NOT_ALLOWED (with an Allow header) and
// 500 INTERNAL (the server returned no result, or one that cannot be
// encoded, or a request message has a field the amount check cannot read). No other status is ever answered; any input gives a JSON body.
//
// # Examples
//
//	curl -sS -X POST localhost:8080/v1/accounts -H 'Content-Type: application/json' \
//	  -H 'Idempotency-Key: acct-alice' -d '{"account_id":"alice","currency":"CNY"}'
//	curl -sS -X POST localhost:8080/v1/deposits -H 'Content-Type: application/json' \
//	  -H 'Idempotency-Key: dep-1' \
//	  -d '{"account_id":"alice","amount_minor":"10000","currency":"CNY","external_ref":"bank-42"}'
//	curl -sS -X POST localhost:8080/v1/transfers -H 'Content-Type: application/json' \
//	  -H 'Idempotency-Key: t-1' \
//	  -d '{"from_account_id":"alice","to_account_id":"bob","amount_minor":"1500","currency":"CNY"}'
//	curl -sS localhost:8080/v1/accounts/alice
//	curl -sS 'localhost:8080/v1/accounts/alice/transfers?page_size=20'
//	curl -sS 'localhost:8080/v1/transfers/t-1?from_account_id=alice'
//	curl -sS -X POST localhost:8080/v1/payouts -H 'Content-Type: application/json' \
//	  -H 'Idempotency-Key: po-1' -d '{"account_id":"alice","amount_minor":"2000","currency":"CNY"}'
//	curl -sS 'localhost:8080/v1/payouts/po-1?account_id=alice'
//	curl -sS 'localhost:8080/v1/payouts?state=unknown&page_size=100'
//
// Callers' duties: serve the handler behind an http.Server with its own
// header and connection timeouts (the handler bounds bodies and server
// calls, not slow clients), and give it a PaymentsServer that honours the
// context deadline.
package httpapi
