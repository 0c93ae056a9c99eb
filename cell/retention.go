package cell

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
)

// Retention of idempotency records, per command kind:
//
//   - transfer ids, incoming credits and payout ids: forever (they also
//     name the records a client reads back);
//   - CreateAccount keys: forever (one per account);
//   - Deposit keys: ServiceConfig.DepositKeyRetention (default 30 days).
//     A deposit retried after that executes again: clients must not retry a
//     deposit older than the window with its old key.
//
// A record with a retention has an expiry index entry
//
//	x/<expires at, unix ms, 8 bytes big-endian>/<idempotency key>
//
// Keys are never treated as expired on lookup: a record is answered until
// ExpireKeys deletes it. ExpireKeys is proposed by the leader's janitor
// with a cutoff KeyExpiryClockSkewAllowance behind its own clock, so a
// leader whose clock runs ahead by less than that cannot expire a key
// before its retention has passed, and a command stamped by such a leader
// never finds its key gone early (the lookup reads no clock).

// Defaults of the janitor.
const (
	// DefaultDepositKeyRetention is how long a deposit's key is kept.
	DefaultDepositKeyRetention = 30 * 24 * time.Hour
	// KeyExpiryClockSkewAllowance is how far behind the leader's clock the
	// janitor's cutoff is: the most a leader's clock may run ahead without
	// expiring a key early.
	KeyExpiryClockSkewAllowance = time.Hour
	// keyJanitorInterval is how often the janitor runs per cell it leads.
	keyJanitorInterval = time.Minute
	// expireKeysMax bounds the keys one ExpireKeys deletes (one Raft entry).
	expireKeysMax = 1_000
)

func expiryKey(expiresAtUnixMs int64, key []byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte("x/"), uint64(max(expiresAtUnixMs, 0)))
	k = append(k, '/')
	return append(k, key...)
}

// expireKeys deletes records whose retention ended at or before the cutoff,
// oldest first, at most max (bounded by expireKeysMax).
func (a *applier) expireKeys(e *pb.ExpireKeys) *pb.CommandResult {
	limit := int(e.GetMaxKeys())
	if limit <= 0 || limit > expireKeysMax {
		limit = expireKeysMax
	}
	upper := binary.BigEndian.AppendUint64([]byte("x/"), uint64(max(e.GetCutoffUnixMs(), 0))+1)
	done := &pb.KeysExpired{}
	var victims [][]byte
	err := a.st.tx.Scan([]byte("x/"), upper, func(k, _ []byte) bool {
		victims = append(victims, append([]byte(nil), k...))
		return len(victims) < limit
	})
	if err != nil {
		panic(fmt.Sprintf("cell: scanning the expiry index: %v", err))
	}
	for _, k := range victims {
		if len(k) < 2+8+1 {
			panic(fmt.Sprintf("cell: corrupt expiry index key %q", k))
		}
		a.st.delete(k)
		a.st.delete(k[2+8+1:])
		done.Count++
		done.LastExpiryUnixMs = int64(binary.BigEndian.Uint64(k[2 : 2+8]))
	}
	return &pb.CommandResult{Outcome: &pb.CommandResult_KeysExpired{KeysExpired: done}}
}

// keyJanitor proposes ExpireKeys for every cell its node leads.
type keyJanitor struct {
	host     *replication.Host
	service  *Service
	cells    []uint64
	interval time.Duration
	logger   *slog.Logger
	stop     chan struct{}
	done     chan struct{}
}

func newKeyJanitor(host *replication.Host, service *Service, cells []uint64, interval time.Duration, logger *slog.Logger) *keyJanitor {
	if interval <= 0 {
		interval = keyJanitorInterval
	}
	return &keyJanitor{host: host, service: service, cells: cells, interval: interval,
		logger: logger.With("component", "key-janitor"), stop: make(chan struct{}), done: make(chan struct{})}
}

func (j *keyJanitor) run() {
	defer close(j.done)
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		}
		for _, id := range j.cells {
			j.pass(id)
		}
	}
}

func (j *keyJanitor) close() {
	close(j.stop)
	<-j.done
}

// pass expires what is due in one cell led here: one bounded command (the
// rest waits for the next pass).
func (j *keyJanitor) pass(cellID uint64) {
	g, err := j.host.Group(cellID)
	if err != nil || !g.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.service.cfg.ProposalTimeout)
	defer cancel()
	cutoff := j.service.cfg.Now().Add(-KeyExpiryClockSkewAllowance).UnixMilli()
	res, err := j.service.propose(ctx, cellID, &pb.Command{Body: &pb.Command_ExpireKeys{ExpireKeys: &pb.ExpireKeys{CutoffUnixMs: cutoff, MaxKeys: expireKeysMax}}})
	if err != nil {
		j.logger.Debug("key janitor: expiring keys failed; next pass tries again", "cell", cellID, "error", err)
		return
	}
	if n := res.GetKeysExpired().GetCount(); n > 0 {
		j.logger.Info("key janitor: expired idempotency keys", "cell", cellID, "count", n)
	}
}
