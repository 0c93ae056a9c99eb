package channel_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cellpay/cellpay/cell/channel"
)

// The double payout, prevented: the provider pays and the call times out.
// The caller records the payout UNKNOWN and resolves it by querying the
// same provider with the same id; it never tries another provider.
func Example_timeoutAfterSuccess() {
	sim, err := channel.NewSim(channel.DefaultSimConfig("bank-a"))
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	if err := sim.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutAfterSuccess}); err != nil {
		panic(err)
	}
	p := channel.Payout{ID: "interest-42", Account: "investor-42", AmountMinor: 6_000_000, Currency: "CNY"}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	res, err := sim.Submit(ctx, p)
	cancel()
	fmt.Println("submit definite:", channel.Definite(res, err), "timed out:", errors.Is(err, context.DeadlineExceeded))

	// UNKNOWN: query the same provider with the same id until definite.
	for attempt := 0; attempt < 10 && !channel.Definite(res, err); attempt++ {
		res, err = sim.Query(context.Background(), p.ID)
	}
	fmt.Println("query:", res.Outcome)
	fmt.Println("paid:", len(sim.Statement()), "time(s), submitted:", sim.SubmitCalls(p.ID), "time(s)")
	// Output:
	// submit definite: false timed out: true
	// query: SUCCEEDED
	// paid: 1 time(s), submitted: 1 time(s)
}
