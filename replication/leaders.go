package replication

import "sync"

// LeaderEvent reports who leads a group, as seen by this node. An empty
// LeaderID means the group has no known leader (an election is under way).
// Of two events for the same group, the higher Term is the newer.
type LeaderEvent struct {
	Group      uint64
	LeaderID   string
	LeaderAddr string
	Term       uint64
}

// leaderFeed fans leader events out to subscribers without ever blocking
// raft: each subscriber keeps only the newest pending event per group
// (bounded by the number of groups) and a goroutine delivers them in order.
type leaderFeed struct {
	mu   sync.Mutex
	subs map[*leaderSub]struct{}
}

type leaderSub struct {
	mu      sync.Mutex
	pending map[uint64]LeaderEvent
	order   []uint64
	signal  chan struct{} // capacity 1
	out     chan LeaderEvent
	stop    chan struct{}
	done    chan struct{}
}

func (f *leaderFeed) publish(ev LeaderEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.offer(ev)
	}
}

func (s *leaderSub) offer(ev LeaderEvent) {
	s.mu.Lock()
	if _, ok := s.pending[ev.Group]; !ok {
		s.order = append(s.order, ev.Group)
	}
	s.pending[ev.Group] = ev
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *leaderSub) take() (LeaderEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return LeaderEvent{}, false
	}
	g := s.order[0]
	s.order = s.order[1:]
	ev := s.pending[g]
	delete(s.pending, g)
	return ev, true
}

func (s *leaderSub) run() {
	defer close(s.done)
	defer close(s.out)
	for {
		ev, ok := s.take()
		if !ok {
			select {
			case <-s.signal:
				continue
			case <-s.stop:
				return
			}
		}
		select {
		case s.out <- ev:
		case <-s.stop:
			return
		}
	}
}

// subscribe registers a subscriber primed with initial events.
func (f *leaderFeed) subscribe(initial []LeaderEvent) (<-chan LeaderEvent, func()) {
	s := &leaderSub{
		pending: make(map[uint64]LeaderEvent), signal: make(chan struct{}, 1),
		out: make(chan LeaderEvent), stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, ev := range initial {
		s.offer(ev)
	}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*leaderSub]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	go s.run()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
			close(s.stop)
			<-s.done
		})
	}
	return s.out, cancel
}
