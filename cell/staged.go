package cell

import (
	"fmt"

	"github.com/cellpay/cellpay/replication"
)

// staged holds one command's writes until the command's outcome is known:
// Apply flushes them into the Raft entry's transaction only when the
// command succeeded, so a command that returns an error changes nothing,
// whatever it wrote before it found the error (its refusal may still be
// stored under its idempotency key, written after the discard). Reads see
// the command's own writes first.
type staged struct {
	tx     *replication.Tx
	order  []string          // keys in the order first written
	values map[string][]byte // nil value: deleted
}

func newStaged(tx *replication.Tx) *staged {
	return &staged{tx: tx, values: make(map[string][]byte)}
}

// get reads key through the staged writes. A storage error means the
// replica's state is broken: continuing would diverge from the other
// replicas, so it stops loudly.
func (s *staged) get(key []byte) ([]byte, bool) {
	if v, ok := s.values[string(key)]; ok {
		return v, v != nil
	}
	v, found, err := s.tx.Get(key)
	if err != nil {
		panic(fmt.Sprintf("cell: reading %q: %v", key, err))
	}
	return v, found
}

func (s *staged) set(key, value []byte) {
	if value == nil {
		value = []byte{} // nil marks a delete
	}
	s.record(key, value)
}

func (s *staged) delete(key []byte) { s.record(key, nil) }

func (s *staged) record(key, value []byte) {
	k := string(key)
	if _, ok := s.values[k]; !ok {
		s.order = append(s.order, k)
	}
	s.values[k] = value
}

// flush writes every staged write into the transaction, in the order the
// keys were first written (deterministic), and empties the stage.
func (s *staged) flush() {
	for _, k := range s.order {
		if v := s.values[k]; v == nil {
			s.tx.Delete([]byte(k))
		} else {
			s.tx.Set([]byte(k), v)
		}
	}
	s.discard()
}

// discard drops every staged write.
func (s *staged) discard() {
	s.order = s.order[:0]
	clear(s.values)
}
