package fabric

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
)

// HeldBytesMax is the most bytes one direction of a conn holds while they wait
// for their delay or for a cut to heal, like a TCP send window plus the peer's
// receive buffer. When it is full, Write blocks; on the reading side the fabric
// stops reading the real conn, so the peer's writes block in turn.
const HeldBytesMax = 4 << 20

var (
	// ErrClosed is returned by dials after Fabric.Close, and by Read and
	// Write on conns that Fabric.Close closed. It matches net.ErrClosed too.
	ErrClosed = fmt.Errorf("fabric: closed: %w", net.ErrClosed)
	// ErrNotRegistered marks a dial to an address no site registered.
	ErrNotRegistered = errors.New("fabric: address is not registered to a site")
	// ErrReset is returned by Read and Write on conns aborted by Reset. It
	// matches syscall.ECONNRESET too, like a real reset.
	ErrReset = fmt.Errorf("fabric: connection reset by fault injection: %w", syscall.ECONNRESET)
)

// unregisteredError names the address; errors.Is(err, ErrNotRegistered) holds.
type unregisteredError struct {
	addr string
}

func (e *unregisteredError) Error() string {
	return fmt.Sprintf("fabric: address %s is not registered to a site", e.addr)
}

func (e *unregisteredError) Is(target error) bool { return target == ErrNotRegistered }

// Fabric is the emulated network: which address belongs to which site, the
// link of every ordered site pair, and the live conns dialed through it. All
// methods are safe for concurrent use.
type Fabric struct {
	seed int64

	mu           sync.RWMutex
	sites        map[string]string     // listening address -> site
	dialerSites  map[string]struct{}   // sites given a Dialer: clients, which do not listen, are known by this
	links        map[linkKey]linkEntry // only links that differ from the zero Link
	linksChanged chan struct{}         // closed and replaced on every link change
	ingressCut   map[string]struct{}   // sites cut from every client pseudo-site by CutIngress
	dials        map[linkKey]uint64    // conns dialed per site pair, to seed each one's faults
	conns        map[*conn]struct{}
	closed       bool
	done         chan struct{} // closed by Close
}

// New returns an empty fabric: no sites, every link without faults. The seed
// makes jitter and loss reproducible: the n-th conn dialed from site A to site
// B draws the same values for the same sequence of chunks in each direction.
func New(seed int64) *Fabric {
	return &Fabric{
		seed:         seed,
		sites:        make(map[string]string),
		dialerSites:  make(map[string]struct{}),
		links:        make(map[linkKey]linkEntry),
		linksChanged: make(chan struct{}),
		ingressCut:   make(map[string]struct{}),
		dials:        make(map[linkKey]uint64),
		conns:        make(map[*conn]struct{}),
		done:         make(chan struct{}),
	}
}

// Register records that the listening address addr (host:port, exactly as it
// will be dialed) belongs to site. Registering again moves the address; conns
// already dialed keep their sites.
func (f *Fabric) Register(addr string, site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sites[addr] = site
}

// Reset abruptly closes every live conn between sites a and b, dialed either
// way, like a TCP RST: blocked and later Reads and Writes on the dialing side
// fail with ErrReset, and the accepting side sees a reset at once.
func (f *Fabric) Reset(a, b string) {
	f.mu.RLock()
	var victims []*conn
	for c := range f.conns {
		if (c.fromSite == a && c.toSite == b) || (c.fromSite == b && c.toSite == a) {
			victims = append(victims, c)
		}
	}
	f.mu.RUnlock()
	for _, c := range victims {
		_ = c.abort(ErrReset) // The real conn's close error says nothing useful here.
	}
}

// Close closes every live conn (their Reads and Writes fail with ErrClosed),
// waits for their goroutines to stop, and makes later and pending dials fail
// with ErrClosed. Close is idempotent and always returns nil.
func (f *Fabric) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.done)
	victims := make([]*conn, 0, len(f.conns))
	for c := range f.conns {
		victims = append(victims, c)
	}
	f.mu.Unlock()
	for _, c := range victims {
		_ = c.abort(ErrClosed) // The real conn's close error says nothing useful here.
	}
	return nil
}

// siteOf returns the site of a registered address.
func (f *Fabric) siteOf(addr string) (string, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return "", ErrClosed
	}
	site, ok := f.sites[addr]
	if !ok {
		return "", &unregisteredError{addr: addr}
	}
	return site, nil
}

// track adds a live conn; false if the fabric is already closed.
func (f *Fabric) track(c *conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Fabric) forget(c *conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

// nextDial numbers the conns dialed from site from to site to: 0, 1, ...
func (f *Fabric) nextDial(from, to string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := linkKey{from: from, to: to}
	n := f.dials[k]
	f.dials[k] = n + 1
	return n
}

// faultRand returns the generator of the faults of the link (from, to) in the
// dial-th conn dialed from site dialFrom to site dialTo: the fabric's seed
// mixed with a hash of all that, so each direction of each conn has its own
// reproducible stream.
func (f *Fabric) faultRand(dialFrom, dialTo string, dial uint64, from, to string) *rand.Rand {
	h := fnv.New64a()
	for _, s := range []string{dialFrom, dialTo, from, to} {
		h.Write([]byte(s))
		h.Write([]byte{0}) // Separates "ab","c" from "a","bc".
	}
	var n [8]byte
	for i := range n {
		n[i] = byte(dial >> (8 * i))
	}
	h.Write(n[:])
	return rand.New(rand.NewPCG(uint64(f.seed), h.Sum64()))
}
