package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// Slots is the number of slots. Accounts hash to slots, the topology maps
// slots to cells. Like SlotOf, it is fixed forever.
const Slots = 4096

// SlotOf returns the slot of an account: the 64-bit FNV-1a hash of the
// account id's bytes, modulo Slots.
//
// This mapping is forever. Every account's state lives in the cell that owns
// its slot, so changing the hash (or Slots) would silently move every
// account to another cell, where its balance is not. Cells split and move by
// reassigning slot ranges in the topology, never by rehashing. The tests pin
// a few ids to their slots to catch an accidental change.
func SlotOf(accountID string) int {
	// FNV-1a 64 (as hash/fnv.New64a), inlined: no allocation on the
	// router's per-request path.
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	hash := uint64(offset64)
	for i := 0; i < len(accountID); i++ {
		hash ^= uint64(accountID[i])
		hash *= prime64
	}
	return int(hash % Slots)
}

// SlotRange is the inclusive range of slots First..Last.
type SlotRange struct {
	First, Last int
}

// Len returns the number of slots in the range.
func (r SlotRange) Len() int { return r.Last - r.First + 1 }

// Contains reports whether slot is in the range.
func (r SlotRange) Contains(slot int) bool { return r.First <= slot && slot <= r.Last }

// String returns the file form: "first-last", or "slot" for a single slot.
func (r SlotRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// parseSlotRange parses "first-last" or "slot". Its errors complete a
// message that starts with the quoted input.
func parseSlotRange(s string) (SlotRange, error) {
	firstText, lastText, isRange := strings.Cut(s, "-")
	if !isRange {
		lastText = firstText
	}
	if !isDigits(firstText) || !isDigits(lastText) {
		return SlotRange{}, fmt.Errorf(`want "first-last" or "slot", e.g. "0-1364" or "17"`)
	}
	first, firstInRange := parseSlot(firstText)
	last, lastInRange := parseSlot(lastText)
	switch {
	case !lastInRange:
		return SlotRange{}, fmt.Errorf("slot %s is outside [0, %d]", bigNumber(lastText), Slots-1)
	case !firstInRange:
		return SlotRange{}, fmt.Errorf("slot %s is outside [0, %d]", bigNumber(firstText), Slots-1)
	case first > last:
		return SlotRange{}, fmt.Errorf("first slot %d is after last slot %d", first, last)
	}
	return SlotRange{First: first, Last: last}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// bigNumber returns the digits s, which are not all zeros, without leading
// zeros and shortened for a message.
func bigNumber(s string) string {
	s = strings.TrimLeft(s, "0")
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// parseSlot parses the decimal digits s; inRange is false when the number is
// not a slot (too large, however many digits).
func parseSlot(s string) (slot int, inRange bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n >= Slots {
		return 0, false
	}
	return n, true
}

// CellOfSlot returns the cell owning slot; false when slot is outside
// [0, Slots).
func (t *Topology) CellOfSlot(slot int) (Cell, bool) {
	if slot < 0 || slot >= Slots {
		return Cell{}, false
	}
	return t.cells[t.slotCell[slot]], true
}

// CellOfAccount returns the cell holding the account: the owner of
// SlotOf(accountID). Every account has one in a valid topology.
func (t *Topology) CellOfAccount(accountID string) (Cell, bool) {
	return t.CellOfSlot(SlotOf(accountID))
}
