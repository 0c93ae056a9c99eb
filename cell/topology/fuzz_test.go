package topology

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: no bytes make Parse or Validate panic; an error is always
// ErrInvalid; a topology that parses answers every lookup consistently.
func FuzzParse(f *testing.F) {
	for _, path := range []string{demoFile, minimalFile} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("environment: test\nsites: [{id: a, region: r}]\nrtt: []\nnodes: []\ncells: [{id: 1, slots: [\"0-4095\", 17, x]}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("cells: [{id: 18446744073709551615, replicas: [a, a, a], slots: ['4095-0']}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Parse(data)
		if err != nil {
			if topo != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want nil and ErrInvalid", topo, err)
			}
			_ = err.Error()
			return
		}
		if err := topo.Validate(); err != nil {
			t.Fatalf("Validate after a successful Parse: %v", err)
		}
		for slot := range Slots {
			c, ok := topo.CellOfSlot(slot)
			if !ok {
				t.Fatalf("slot %d has no cell", slot)
			}
			if _, ok := topo.Cell(c.ID); !ok {
				t.Fatalf("cell %d of slot %d not found", c.ID, slot)
			}
		}
		for _, c := range topo.Cells() {
			for _, id := range c.Replicas {
				n, ok := topo.Node(id)
				if !ok {
					t.Fatalf("replica %s of cell %d not found", id, c.ID)
				}
				if _, ok := topo.Site(n.Site); !ok {
					t.Fatalf("site %s of node %s not found", n.Site, n.ID)
				}
			}
			if topo.CellRTTMax(c.ID) <= 0 {
				t.Fatalf("cell %d spans sites without a round-trip time", c.ID)
			}
		}
		if _, err := New(topo.Spec()); err != nil {
			t.Fatalf("New(Spec()) of a valid topology: %v", err)
		}
	})
}
