package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RefusalCounter registers cellpay_auth_refused_total{surface,reason} with
// reg (or takes the one registered there already: every server of a
// process counts into one) and returns what an Authorizer's Refused calls.
// A nil reg counts nowhere.
func RefusalCounter(reg prometheus.Registerer) (func(Refusal), error) {
	if reg == nil {
		return func(Refusal) {}, nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cellpay_auth_refused_total",
		Help: "Calls refused by authentication or authorization, by surface and reason.",
	}, []string{"surface", "reason"})
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return nil, errors.New("auth: registering metrics: " + err.Error())
		}
		existing, ok := already.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, errors.New("auth: registering metrics: " + err.Error())
		}
		c = existing
	}
	return func(r Refusal) { c.WithLabelValues(r.Surface, r.Reason).Inc() }, nil
}
