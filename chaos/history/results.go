package history

// The checkers' results, shared by chaos/check (which computes them) and
// chaos/report (which renders them).

// CheckResult is one checker's verdict, with evidence.
type CheckResult struct {
	Name string `json:"name"`
	Pass bool   `json:"pass"`
	// Inconclusive: the checker could not decide (e.g. a search timed
	// out); Pass is then false and Summary says why.
	Inconclusive bool     `json:"inconclusive,omitempty"`
	Summary      string   `json:"summary"`
	Evidence     []string `json:"evidence,omitempty"` // at most EvidenceMax lines
}

// EvidenceMax bounds the evidence lines of one result.
const EvidenceMax = 20

// Second is one second of the run as the clients saw it (by completion time).
type Second struct {
	Offset  int     `json:"offset_s"` // seconds since the start of the history
	OK      int     `json:"ok"`
	Fail    int     `json:"fail"`    // business errors (answers)
	Unknown int     `json:"unknown"` // no definite answer: client-visible errors
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
}

// Failover is how long one cell went without a leader outside a faulted site.
type Failover struct {
	Cell     uint64  `json:"cell"`
	FromSite string  `json:"from_site"`
	ToSite   string  `json:"to_site"`
	StartNs  int64   `json:"start_ns"`
	EndNs    int64   `json:"end_ns"`
	Seconds  float64 `json:"seconds"`
}
