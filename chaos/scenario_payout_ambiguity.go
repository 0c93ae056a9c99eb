package chaos

import (
	"errors"
	"time"

	"github.com/cellpay/cellpay/cell/channel"
)

// payout-ambiguity's timings.
const (
	// ambiguityQueryDownPercent of the providers' Queries fail at once
	// during payout-ambiguity (seeded, for the first ambiguityQueriesMax),
	// so some payouts stay UNKNOWN until after the heal.
	ambiguityQueryDownPercent = 30
	ambiguityQueriesMax       = 2_000
	// payout-ambiguity cuts the site after a quarter of its window, at
	// most half a second: a cut at once would stall every worker on the
	// cut cell before any payout reached a bank, a late one would leave
	// too little of a short window for the failover (about 2 s). Submits
	// hang for a second (payoutCallTimeout), so the cut lands on some.
	ambiguityLeadInParts = 4
	ambiguityLeadInMax   = 500 * time.Millisecond
)

// payoutAmbiguity proves that no payout is paid twice, none lost, every
// UNKNOWN resolved by querying the same provider with the same id, and no
// provider called by a deposed leader (the payouts checker: statements
// against ledgers, Submits against committed attempts), when the providers
// time out after paying (the double-payout incident) while the home site
// of cell 1, whose leader submits, is cut off (a fiber cut): every Submit
// in the window pays and hangs until the caller gives up, 30% of Queries
// fail, and soon after (so that its leader has Submits hanging when the
// cut lands) the site is cut off: its executor can no longer commit an
// attempt, nor record what it heard, and the new leader must query what
// the old one may have paid.
func payoutAmbiguity(e *env) error {
	providers := e.t.(ProviderFaulter)
	site := homeOfFirstCell(e.t.Topology())
	// Two faults, so the failover is timed from the cut, not from the
	// banks' first timeout.
	banks, cut := "payout ambiguity: the banks time out after paying", "fiber cut "+site
	e.faultStart(banks, "")
	queries := make([]channel.QueryBehaviour, ambiguityQueriesMax)
	for i := range queries {
		queries[i].Mode = channel.QueryAnswer
		if e.rng.IntN(100) < ambiguityQueryDownPercent {
			queries[i].Mode = channel.QueryDown
		}
	}
	hang, noScript := channel.Behaviour{Mode: channel.ModeTimeoutAfterSuccess}, []channel.Behaviour{}
	err := providers.ChangeProviders(channel.BehaviourChange{Submit: &hang, SubmitScript: &noScript, QueryScript: &queries})
	cutStarted := false
	if err == nil && pause(min(e.window/ambiguityLeadInParts, ambiguityLeadInMax), e.stop) {
		e.faultStart(cut, site)
		cutStarted = true
		err = e.t.Isolate(site)
		if err == nil {
			err = e.t.CutIngress(site)
		}
	}
	if err == nil {
		<-e.stop
	}
	succeed, answer, noQueries := channel.Behaviour{Mode: channel.ModeSucceed}, channel.QueryBehaviour{Mode: channel.QueryAnswer}, []channel.QueryBehaviour{}
	err = errors.Join(err, providers.ChangeProviders(channel.BehaviourChange{Submit: &succeed, Query: &answer, QueryScript: &noQueries}), e.t.HealAll())
	if cutStarted {
		e.faultEnd(cut, site)
	}
	e.faultEnd(banks, "")
	return err
}
