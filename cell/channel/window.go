package channel

import (
	"math"
	"time"
)

// IdempotencyWindower is implemented by a Provider that documents how long
// it keeps payout ids: for IdempotencyWindow after an id's first Submit
// reached it, Submit is idempotent on that id and a Query answering
// ErrNotFound means the provider never accepted it (so submitting it again
// is safe). After the window, the provider may have forgotten an id it
// paid: ErrNotFound then says nothing, and a Submit may pay again. A
// Provider without it, or answering 0 (or less), promises no window:
// ErrNotFound after a Submit that may have arrived is never final.
//
// The window starts when the provider first got the id, which is no
// earlier than when the caller first sent it: a caller that measures from
// its own first Submit errs on the safe side.
type IdempotencyWindower interface {
	IdempotencyWindow() time.Duration
}

// Bounds of an idempotency window.
const (
	// IdempotencyWindowMax bounds a configured window (SimConfig,
	// HTTPProviderConfig): real providers document 24 hours to 30 days; a
	// year is beyond any, so a larger value is a unit mistake.
	IdempotencyWindowMax = 365 * 24 * time.Hour
	// IdempotencyWindowForever is the window of a provider that never
	// forgets an id (a Sim without SimConfig.IdempotencyWindow): its
	// ErrNotFound is final at any age. The largest Duration, so that
	// "elapsed < window" holds for every elapsed time and time.Time.Add
	// saturates instead of wrapping.
	IdempotencyWindowForever time.Duration = math.MaxInt64
)

var (
	_ IdempotencyWindower = (*Sim)(nil)
	_ IdempotencyWindower = (*HTTPProvider)(nil)
)
