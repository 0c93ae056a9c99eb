package fabric

import (
	"math"
	"time"
)

// Link is the fault model of one direction between two sites. The zero Link
// has no faults. Each field is one fault (fault_*.go); they combine. Its JSON
// form (link_json.go) writes durations as strings such as "30ms".
type Link struct {
	// Delay is the one-way latency added to every chunk in this direction.
	Delay time.Duration `json:"delay"`
	// Jitter is a uniform extra delay in [0, Jitter), seeded; the order of
	// bytes is always preserved.
	Jitter time.Duration `json:"jitter"`
	// Cut is a black hole: bytes in this direction are held, not delivered,
	// until healed.
	Cut bool `json:"cut"`
	// Loss is the probability (0..1) that a chunk is lost; TCP retransmits it,
	// so it and every chunk behind it arrive LossStall late, in order.
	Loss float64 `json:"loss"`
	// BandwidthBytesPerSecond paces each conn in this direction to this many
	// bytes per second; 0 is unlimited.
	BandwidthBytesPerSecond int64 `json:"bandwidth_bytes_per_second"`
	// Probability (0..1) is the share of conns the faults above apply to,
	// like toxiproxy's toxicity. 0 and 1 both mean every conn (0 is the zero
	// value, so a Link without it keeps its meaning). Otherwise each conn
	// draws once, at dial, from its seeded generator, and the faults apply to
	// it while its draw is below Probability; link changes never re-draw
	// (fault_probability.go). A PacketConn draws per datagram instead.
	Probability float64 `json:"probability"`
}

type linkKey struct {
	from, to string
}

// linkEntry is a link and its compiled faults.
type linkEntry struct {
	link   Link
	faults []fault
}

// SetLink sets the link from site from to site to (one direction). Negative
// durations and bandwidths count as zero; a loss or probability outside
// [0, 1] is clamped (NaN counts as zero). Use Link.Validate to reject such
// input instead.
func (f *Fabric) SetLink(from, to string, l Link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLinkLocked(linkKey{from: from, to: to}, l)
	f.signalLinksLocked()
}

// Link returns the link from site from to site to.
func (f *Fabric) Link(from, to string) Link {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.links[linkKey{from: from, to: to}].link
}

// SetDelay sets the one-way delay and jitter of both directions between a and
// b, keeping their other faults (cut, loss, bandwidth).
func (f *Fabric) SetDelay(a, b string, oneWay, jitter time.Duration) {
	f.updateLinks(bothWays(a, b), func(l *Link) {
		l.Delay = oneWay
		l.Jitter = jitter
	})
}

// Cut cuts both directions between a and b, keeping their other faults.
func (f *Fabric) Cut(a, b string) {
	f.setCut(bothWays(a, b), true)
}

// Isolate cuts site from every other site registered now, both directions.
// Client pseudo-sites are not registered (clients do not listen): cut them
// with CutIngress.
func (f *Fabric) Isolate(site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, other := range f.sites {
		if other == site {
			continue
		}
		for _, k := range bothWays(site, other) {
			l := f.links[k].link
			l.Cut = true
			f.setLinkLocked(k, l)
		}
	}
	f.signalLinksLocked()
}

// Heal uncuts both directions between a and b, keeping their other faults.
// Held bytes of live conns are then delivered in order.
func (f *Fabric) Heal(a, b string) {
	f.setCut(bothWays(a, b), false)
}

// HealAll uncuts every link, keeping their other faults, and forgets every
// CutIngress.
func (f *Fabric) HealAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, e := range f.links {
		l := e.link
		l.Cut = false
		f.setLinkLocked(k, l)
	}
	clear(f.ingressCut)
	f.signalLinksLocked()
}

func (f *Fabric) setCut(keys []linkKey, cut bool) {
	f.updateLinks(keys, func(l *Link) { l.Cut = cut })
}

// updateLinks applies change to the links of keys, under one lock and one
// signal, so waiters never see half of a change.
func (f *Fabric) updateLinks(keys []linkKey, change func(*Link)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		l := f.links[k].link
		change(&l)
		f.setLinkLocked(k, l)
	}
	f.signalLinksLocked()
}

// linkState returns the link, its faults and a channel closed at its next
// change (or the next change of any other link), read together so no change
// is missed.
func (f *Fabric) linkState(from, to string) (Link, []fault, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.links[linkKey{from: from, to: to}]
	return e.link, e.faults, f.linksChanged
}

func (f *Fabric) setLinkLocked(k linkKey, l Link) {
	l = normalized(l)
	if l == (Link{}) {
		delete(f.links, k) // Keeps HealAll and lookups proportional to the faults set.
		return
	}
	f.links[k] = linkEntry{link: l, faults: faultsOf(l)}
}

// normalized clamps every field of l into its valid range.
func normalized(l Link) Link {
	l.Delay = max(l.Delay, 0)
	l.Jitter = max(l.Jitter, 0)
	l.BandwidthBytesPerSecond = max(l.BandwidthBytesPerSecond, 0)
	if math.IsNaN(l.Loss) {
		l.Loss = 0
	}
	l.Loss = min(max(l.Loss, 0), 1)
	if math.IsNaN(l.Probability) {
		l.Probability = 0
	}
	l.Probability = min(max(l.Probability, 0), 1)
	return l
}

// signalLinksLocked wakes everyone waiting for a link change. Link changes are
// rare (a fault schedule), so one shared channel is cheaper than per-link ones.
func (f *Fabric) signalLinksLocked() {
	close(f.linksChanged)
	f.linksChanged = make(chan struct{})
}

func bothWays(a, b string) []linkKey {
	if a == b {
		return []linkKey{{from: a, to: b}}
	}
	return []linkKey{{from: a, to: b}, {from: b, to: a}}
}
