package cell

import (
	"testing"
	"time"
)

func TestWorkSet(t *testing.T) {
	w := newWorkSet(10*time.Millisecond, 40*time.Millisecond)
	now := time.Now()
	if due, fresh := w.claim(1, "a", now); !due || fresh {
		t.Fatalf("a new item: due %v fresh %v; want due, not fresh", due, fresh)
	}
	if due, _ := w.claim(1, "a", now); due {
		t.Fatal("an item in flight was claimed twice")
	}
	w.finish("a", false, false) // backs off 10 ms
	if due, _ := w.claim(1, "a", time.Now()); due {
		t.Fatal("an item backing off was due at once")
	}
	if due, _ := w.claim(1, "a", time.Now().Add(time.Second)); !due {
		t.Fatal("an item was not due after its backoff")
	}
	for range 5 { // doubling, bounded
		w.finish("a", false, false)
		w.claim(1, "a", time.Now().Add(time.Second))
	}
	if b := w.items["a"].backoff; b != 40*time.Millisecond {
		t.Fatalf("backoff %s, want the 40ms bound", b)
	}
	w.finish("a", false, true) // again: due at once, fresh
	if due, fresh := w.claim(1, "a", time.Now()); !due || !fresh {
		t.Fatalf("after again: due %v fresh %v; want both", due, fresh)
	}
	w.finish("a", true, false)
	if w.size() != 0 {
		t.Fatal("a done item is still remembered")
	}

	w.markFresh(1, "f")
	w.claim(2, "b", now)
	w.finish("b", false, false)
	w.claim(1, "c", now)
	w.finish("c", false, false)
	w.forget(1, map[string]bool{})
	if _, ok := w.items["c"]; ok {
		t.Fatal("an item that left cell 1's work is still remembered")
	}
	if _, ok := w.items["f"]; !ok {
		t.Fatal("a fresh item was forgotten before its first attempt")
	}
	if _, ok := w.items["b"]; !ok {
		t.Fatal("another cell's item was forgotten")
	}
}
