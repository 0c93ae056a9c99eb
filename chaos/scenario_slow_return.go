package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// slow-return's timings.
const (
	// slowReturnDelay is the one-way delay added on the follower->leader
	// direction in slow-return: more than a cross-region RTT, less than a
	// leader's lease (half its 1 s heartbeat timeout), so the leader keeps
	// its quorum but hears every ack late.
	slowReturnDelay  = 300 * time.Millisecond
	slowReturnJitter = 10 * time.Millisecond
	// slowReturnRound is the pause between slow-return's rounds, each of
	// which moves every cell's leadership at once, waits to see the new
	// leaders, and re-aims the slow direction at cell 1's: longer than
	// leader-storm's 400 ms, as each move now waits on the slow direction.
	slowReturnRound = 600 * time.Millisecond
)

// slowReturn proves that reads stay linearizable (the linearizability
// checker) when one direction of the links is slow: every link into the
// site that leads cell 1 (the followers' acks and answers to their leader)
// carries 300 ms more one way, the other direction stays fast, and every
// cell's leadership moves to a random replica in rounds 600 ms apart, the
// slow direction following cell 1's leader. A leader then hears late whether it
// still leads, and a new one starts while the old one's view is stale.
func slowReturn(e *env) error {
	topo := e.t.Topology()
	type delay struct{ oneWay, jitter time.Duration }
	base := map[[2]string]delay{}
	var errs []error
	for _, a := range topo.Sites() {
		for _, b := range topo.Sites() {
			if a.ID == b.ID {
				continue
			}
			oneWay, jitter, err := e.t.Delay(a.ID, b.ID)
			if err != nil {
				return err
			}
			base[[2]string{a.ID, b.ID}] = delay{oneWay, jitter}
		}
	}
	// aim makes the links into site slow and every other direction as it was.
	aim := func(site string) error {
		var errs []error
		for pair, d := range base {
			if pair[1] == site {
				errs = append(errs, e.t.SetDelayOneWay(pair[0], pair[1], d.oneWay+slowReturnDelay, d.jitter+slowReturnJitter))
			} else {
				errs = append(errs, e.t.SetDelayOneWay(pair[0], pair[1], d.oneWay, d.jitter))
			}
		}
		return errors.Join(errs...)
	}
	detail := fmt.Sprintf("slow return: +%s into cell 1's leader site, leaders moved in rounds %s apart", slowReturnDelay, slowReturnRound)
	e.faultStart(detail, "")
	aimed, tries, reaims := "", 0, 0
	var moves atomic.Int64
	reaim := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		leader := e.t.Leaders(ctx)[1]
		cancel()
		n, ok := topo.Node(leader)
		if !ok || n.Site == aimed { // no leader now: keep the aim until one is seen
			return nil
		}
		aimed = n.Site
		reaims++
		return aim(n.Site)
	}
	for {
		if err := reaim(); err != nil {
			errs = append(errs, err)
			break
		}
		// Every cell at once: a move waits until the new leader is seen,
		// which the slow direction makes take a while.
		var wg sync.WaitGroup
		for _, cl := range topo.Cells() {
			target := cl.Replicas[e.rng.IntN(len(cl.Replicas))]
			tries++
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				if e.t.MoveLeader(ctx, cl.ID, target) == nil { // a refused move is part of the storm
					moves.Add(1)
				}
			})
		}
		wg.Wait()
		if err := reaim(); err != nil {
			errs = append(errs, err)
			break
		}
		if !pause(slowReturnRound, e.stop) {
			break
		}
	}
	if len(errs) > 0 {
		<-e.stop // keep the window's length; the restore follows
	}
	for pair, d := range base { // back to the WAN's own delays
		errs = append(errs, e.t.SetDelayOneWay(pair[0], pair[1], d.oneWay, d.jitter))
	}
	e.notes.add("%d of %d leadership moves accepted (a move to the leader itself counts); the slow direction followed cell 1's leader to a new site %d times", moves.Load(), tries, reaims)
	e.faultEnd(detail, "")
	return errors.Join(errs...)
}
