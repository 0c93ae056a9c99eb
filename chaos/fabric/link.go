package fabric

import "time"

// Link is the fault model of one direction between two sites. The zero Link
// has no faults.
type Link struct {
	Delay  time.Duration // one-way latency added to every chunk in this direction
	Jitter time.Duration // uniform extra delay in [0, Jitter), seeded; order of bytes is always preserved
	Cut    bool          // black hole: bytes in this direction are held, not delivered, until healed
}

type linkKey struct {
	from, to string
}

// SetLink sets the link from site from to site to (one direction). Negative
// durations count as zero.
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
	return f.links[linkKey{from: from, to: to}]
}

// SetDelay sets the one-way delay and jitter of both directions between a and
// b, keeping whether they are cut.
func (f *Fabric) SetDelay(a, b string, oneWay, jitter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range bothWays(a, b) {
		l := f.links[k]
		l.Delay = oneWay
		l.Jitter = jitter
		f.setLinkLocked(k, l)
	}
	f.signalLinksLocked()
}

// Cut cuts both directions between a and b, keeping their delays.
func (f *Fabric) Cut(a, b string) {
	f.setCut(bothWays(a, b), true)
}

// Isolate cuts site from every other site registered now, both directions.
func (f *Fabric) Isolate(site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, other := range f.sites {
		if other == site {
			continue
		}
		for _, k := range bothWays(site, other) {
			l := f.links[k]
			l.Cut = true
			f.setLinkLocked(k, l)
		}
	}
	f.signalLinksLocked()
}

// Heal uncuts both directions between a and b, keeping their delays. Held
// bytes of live conns are then delivered in order.
func (f *Fabric) Heal(a, b string) {
	f.setCut(bothWays(a, b), false)
}

// HealAll uncuts every link, keeping delays.
func (f *Fabric) HealAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, l := range f.links {
		l.Cut = false
		f.setLinkLocked(k, l)
	}
	f.signalLinksLocked()
}

func (f *Fabric) setCut(keys []linkKey, cut bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		l := f.links[k]
		l.Cut = cut
		f.setLinkLocked(k, l)
	}
	f.signalLinksLocked()
}

// linkState returns the link and a channel closed at its next change (or the
// next change of any other link), read together so no change is missed.
func (f *Fabric) linkState(from, to string) (Link, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.links[linkKey{from: from, to: to}], f.linksChanged
}

func (f *Fabric) setLinkLocked(k linkKey, l Link) {
	l.Delay = max(l.Delay, 0)
	l.Jitter = max(l.Jitter, 0)
	if l == (Link{}) {
		delete(f.links, k) // Keeps HealAll and lookups proportional to the faults set.
		return
	}
	f.links[k] = l
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
