package gossip

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// startKeyed starts a member with the keyring keys (nil: unencrypted).
func startKeyed(t *testing.T, name string, keys [][]byte, seeds ...string) *testMember {
	t.Helper()
	cfg, meta, logs := testConfig(t, name, "127.0.0.1:0", seeds...)
	cfg.SecretKeys = keys
	return startWith(t, cfg, meta, logs)
}

// joinFailedTwice waits until m's join of its seed failed at least twice
// (the first failure logs a warning, each later one a debug line): long
// enough for a member that could join to have joined.
func joinFailedTwice(t *testing.T, m *testMember) {
	t.Helper()
	waitFor(t, 15*time.Second, m.cfg.Name+"'s join failed twice", func() string {
		logs := m.logs.String()
		if !strings.Contains(logs, "gossip: seed unreachable") || !strings.Contains(logs, "gossip: seed still unreachable") {
			return "no second join failure logged yet"
		}
		return ""
	})
}

// notListed returns "" if none of observers lists name.
func notListed(name string, observers ...*testMember) string {
	for _, o := range observers {
		if m, ok := member(o.Agent, name); ok {
			return fmt.Sprintf("%s lists %s: %+v", o.cfg.Name, name, m)
		}
	}
	return ""
}

func TestMembersWithoutThePoolsKeyCannotJoin(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(1, 32), testKey(2, 32)
	n1 := startKeyed(t, "n1", [][]byte{k1})
	n2 := startKeyed(t, "n2", [][]byte{k1}, n1.Addr())
	wrongKey := startKeyed(t, "n3", [][]byte{k2}, n1.Addr())
	noKey := startKeyed(t, "n4", nil, n1.Addr())
	waitFor(t, 10*time.Second, "n1 and n2 (same key) see each other", func() string {
		if err := seesAlive(n1, "n1", "n2"); err != "" {
			return err
		}
		return seesAlive(n2, "n1", "n2")
	})
	joinFailedTwice(t, wrongKey)
	joinFailedTwice(t, noKey)
	for _, outsider := range []*testMember{wrongKey, noKey} {
		if err := notListed(outsider.cfg.Name, n1, n2); err != "" {
			t.Error(err)
		}
		if err := seesAlive(outsider, outsider.cfg.Name); err != "" {
			t.Error(err)
		}
	}

	// An encrypted member cannot join an unencrypted pool either.
	plain := startKeyed(t, "n5", nil)
	keyed := startKeyed(t, "n6", [][]byte{k1}, plain.Addr())
	joinFailedTwice(t, keyed)
	if err := notListed("n6", plain); err != "" {
		t.Error(err)
	}
	if err := notListed("n5", keyed); err != "" {
		t.Error(err)
	}
}

// A rotation from k1 to k2, one step at a time over the whole pool: add
// k2 as a second key everywhere, make it the first everywhere, drop k1.
// Members one step apart always talk; a member that skips the first step
// (encrypting with k2 while another knows only k1) is not heard.
func TestKeyRotationStepsKeepThePoolTogether(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(1, 32), testKey(2, 16)
	steps := []struct {
		name          string
		seed, joiner  [][]byte
		joinerHearsIt bool
	}{
		{"k2 added second", [][]byte{k1, k2}, [][]byte{k1}, true},
		{"k2 made first", [][]byte{k2, k1}, [][]byte{k1, k2}, true},
		{"k1 dropped", [][]byte{k2}, [][]byte{k2, k1}, true},
		{"k2 first where k1 is all the other has", [][]byte{k2, k1}, [][]byte{k1}, false},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			t.Parallel()
			seed := startKeyed(t, "n1", step.seed)
			joiner := startKeyed(t, "n2", step.joiner, seed.Addr())
			if step.joinerHearsIt {
				waitFor(t, 10*time.Second, "both see both", func() string {
					if err := seesAlive(seed, "n1", "n2"); err != "" {
						return err
					}
					return seesAlive(joiner, "n1", "n2")
				})
				return
			}
			// The seed decrypts the joiner's k1, but the joiner cannot
			// decrypt the seed's answers under k2: its join fails.
			joinFailedTwice(t, joiner)
			if err := notListed("n1", joiner); err != "" {
				t.Error(err)
			}
		})
	}
}
