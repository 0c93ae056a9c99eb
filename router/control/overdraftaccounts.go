package control

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/meta"
)

// Overdraft accounts (allow_negative_balance) can pay out money they never
// had, so only an operator opens them: the public Payments API refuses the
// flag (payments.go), the Control service opens them here, on the meta
// leader, after recording who asks and why in the meta group's audit log.
// The log is also how they are listed: the Cell service cannot list
// accounts, so the list is every account the log says was asked for,
// confirmed (flag and balance) by its cell's leader.

// Audit actions of overdraft accounts (AuditEntry.action).
const (
	AuditActionOverdraftCreate = "overdraft account create"
	AuditActionOverdraftList   = "overdraft account list"
)

// Audit outcomes of AuditActionOverdraftCreate. An attempt writes
// AuditOutcomeRequested before its cell is asked, then one of the others;
// a refused one writes only "refused: ...".
const (
	AuditOutcomeRequested = "requested"
	AuditOutcomeCreated   = "created"
	// AuditOutcomeReplayed: the cell answered the stored result of an
	// earlier request with the same key; nothing was opened now.
	AuditOutcomeReplayed = "replayed"
	// Prefixes, followed by the error's message.
	auditOutcomeRefusedPrefix = "refused: "
	auditOutcomeFailedPrefix  = "failed: "
	auditOutcomeUnknownPrefix = "unknown: "
)

// AuditOperatorUnauthenticated is the operator of an audited refusal whose
// caller showed no known token. Operator names are one word
// (cmd/cellpay/operators.go), so none can be this.
const AuditOperatorUnauthenticated = "(no known token)"

const (
	// overdraftReasonBytesMax bounds the reason an operator gives.
	overdraftReasonBytesMax = 512
	// overdraftRecordTimeout bounds one audit entry's proposal and the
	// leadership check before a list.
	overdraftRecordTimeout = 5 * time.Second
	// overdraftAuditScanMax bounds the audit entries one list searches
	// (the newest; the log is never trimmed): about 200 bytes each.
	overdraftAuditScanMax = 100_000
	// overdraftListAccountsMax bounds the accounts one list reads from
	// their cells.
	overdraftListAccountsMax = 1000
	// overdraftReadsInFlightMax bounds the GetAccount calls of a list in
	// flight at once.
	overdraftReadsInFlightMax = 8
	// overdraftListTimeout bounds a whole list, its cell reads included.
	overdraftListTimeout = 30 * time.Second
	// refusalAuditsPerMinuteMax bounds the refusals this node audits per
	// minute: a caller without a token must not be able to grow the
	// never-trimmed audit log at will. Every refusal is logged.
	refusalAuditsPerMinuteMax = 60
)

// overdraftAccounts is the Control's state for these RPCs; its zero value
// is ready.
type overdraftAccounts struct {
	fwdOnce sync.Once
	fwd     *forward.Forwarder

	mu              sync.Mutex
	windowStart     time.Time
	refusalsAudited int
}

// cellForwarder reaches the cells' leaders with the router's forwarding
// (leader hints, safe retries), over the control plane's connections
// (ControlConfig.Dialer and TLS), learning leaders from hints only.
func (c *Control) cellForwarder() *forward.Forwarder {
	o := &c.overdraft
	o.fwdOnce.Do(func() { o.fwd = forward.New(c.cfg.Topology, c.conns, forward.NewRoutes(), forward.DefaultConfig()) })
	return o.fwd
}

// refusalAuditAllowed spends one of this minute's refusal audits.
func (o *overdraftAccounts) refusalAuditAllowed(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now.Sub(o.windowStart) >= time.Minute || now.Before(o.windowStart) {
		o.windowStart, o.refusalsAudited = now, 0
	}
	if o.refusalsAudited >= refusalAuditsPerMinuteMax {
		return false
	}
	o.refusalsAudited++
	return true
}

// authenticateOperator is authenticate (drill.go: the same token check and
// refusal of an unknown token) with messages that name what is refused.
func (c *Control) authenticateOperator(ctx context.Context, what string) (string, error) {
	if len(c.cfg.Operators) == 0 {
		return "", status.Errorf(codes.PermissionDenied, "router: no operators are configured on this node (cellpay node --operators FILE), so %s is refused", what)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	bearer := false
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok && t != "" {
			bearer = true
		}
	}
	if !bearer {
		return "", status.Errorf(codes.Unauthenticated, "router: %s needs an operator token (metadata authorization: Bearer TOKEN)", what)
	}
	return c.authenticate(ctx)
}

// admitOverdraftCall lets a call in on the meta leader (which can audit)
// from a known operator. A refused token is logged and audited, as entry
// (action, account) from AuditOperatorUnauthenticated.
func (c *Control) admitOverdraftCall(ctx context.Context, what string, entry *pb.AuditEntry) (string, error) {
	if _, err := c.bound(); err != nil {
		return "", err
	}
	if c.meta == nil {
		return "", status.Errorf(codes.FailedPrecondition, "router: node %s holds no meta replica; ask one of %v", c.host.NodeID(), voterIDs(c.cfg.Topology))
	}
	// The leadership first: a refusal is then audited on the leader, which
	// can write it (the meta leader is no secret: GetMetaStatus names it).
	if !c.meta.IsLeader() {
		return "", c.notLeader(c.meta)
	}
	operator, err := c.authenticateOperator(ctx, what)
	if err != nil {
		c.auditRefusal(ctx, AuditOperatorUnauthenticated, entry, err)
		return "", err
	}
	return operator, nil
}

// auditRefusal logs a refused operator call (a drill, an overdraft
// account) and audits it, within the minute's budget
// (refusalAuditsPerMinuteMax, shared by every kind of call).
func (c *Control) auditRefusal(ctx context.Context, operator string, entry *pb.AuditEntry, refusal error) {
	msg := status.Convert(refusal).Message()
	audited := c.overdraft.refusalAuditAllowed(c.cfg.Now())
	c.logger.Warn("refused an operator call", "action", entry.GetAction(), "operator", operator,
		"account", entry.GetAccountId(), "code", status.Code(refusal).String(), "error", msg, "audited", audited)
	if !audited {
		return
	}
	a := &pb.AuditEntry{Operator: operator, Action: entry.GetAction(), Detail: entry.GetDetail(), AccountId: entry.GetAccountId(),
		CellId: entry.GetCellId(), Reason: entry.GetReason(), Outcome: auditOutcomeRefusedPrefix + msg}
	if err := c.recordAudit(ctx, a); err != nil {
		c.logger.Warn("could not audit a refused operator call", "action", entry.GetAction(), "error", err)
	}
}

// recordAudit appends a to the audit log, bounded by
// overdraftRecordTimeout and whatever the caller does: a caller that gives
// up does not stop the record of what it asked.
func (c *Control) recordAudit(ctx context.Context, a *pb.AuditEntry) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), overdraftRecordTimeout)
	defer cancel()
	_, err := c.propose(actx, &pb.MetaCommand{Op: &pb.MetaCommand_Audit{Audit: a}})
	return err
}

// CreateOverdraftAccount implements pb.ControlServer.
func (c *Control) CreateOverdraftAccount(ctx context.Context, req *pb.CreateOverdraftAccountRequest) (*pb.OverdraftAccount, error) {
	cmd := &pb.CreateAccount{IdempotencyKey: req.GetIdempotencyKey(), AccountId: req.GetAccountId(), Currency: req.GetCurrency(), AllowNegativeBalance: true}
	var cellID uint64
	if cl, ok := c.cfg.Topology.CellOfAccount(cmd.GetAccountId()); ok && cmd.GetAccountId() != "" {
		cellID = cl.ID
	}
	// Clipped: a refused request is audited as it came, whatever its size.
	entry := &pb.AuditEntry{Action: AuditActionOverdraftCreate, AccountId: clip(cmd.GetAccountId()), CellId: cellID, Reason: truncateReason(req.GetReason()),
		Detail: fmt.Sprintf("open overdraft account %q (%q) in cell %d with key %q", clip(cmd.GetAccountId()), clip(cmd.GetCurrency()), cellID, clip(cmd.GetIdempotencyKey()))}
	operator, err := c.admitOverdraftCall(ctx, "opening an overdraft account", entry)
	if err != nil {
		return nil, err
	}
	entry.Operator = operator
	if err := validateOverdraftRequest(cmd, req.GetReason()); err != nil {
		c.auditRefusal(ctx, operator, entry, err)
		return nil, err
	}
	if cellID == 0 {
		err := status.Errorf(codes.Internal, "router: no cell of the topology owns account %q", cmd.GetAccountId())
		c.auditRefusal(ctx, operator, entry, err)
		return nil, err
	}

	// The request is on record before its cell hears of it: an account
	// the log does not name is never opened here.
	entry.Outcome = AuditOutcomeRequested
	if err := c.recordAudit(ctx, entry); err != nil {
		var nl *replication.NotLeaderError
		if errors.As(err, &nl) {
			return nil, c.notLeader(c.meta)
		}
		return nil, rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown,
			fmt.Sprintf("router: recording the request in the audit log: %v; nothing was opened, retry with the same key", err),
			map[string]string{rpcstatus.MetaIdempotencyKey: cmd.GetIdempotencyKey()})
	}
	c.logger.Info("opening an overdraft account", "operator", operator, "account", cmd.GetAccountId(), "cell", cellID, "reason", entry.GetReason())

	// What is on record is carried through: a caller that gives up does not
	// cut the call to the cell short (the forwarder bounds it).
	var acct *pb.Account
	var md metadata.MD
	err = c.cellForwarder().DoMutation(context.WithoutCancel(ctx), cellID, "CreateAccount", cmd.GetIdempotencyKey(), func(ctx context.Context, cl pb.CellClient) (err error) {
		acct, err = cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: cellID, Command: cmd}, grpc.Header(&md))
		return err
	})
	replayed := len(md.Get(cell.ReplayedHeader)) > 0 && md.Get(cell.ReplayedHeader)[0] == "true"
	done := proto.CloneOf(entry)
	switch {
	case err == nil && replayed:
		done.Outcome = AuditOutcomeReplayed
	case err == nil:
		done.Outcome = AuditOutcomeCreated
	case forward.IsOutcomeUnknown(err):
		done.Outcome = auditOutcomeUnknownPrefix + status.Convert(err).Message()
	default:
		done.Outcome = auditOutcomeFailedPrefix + status.Convert(err).Message()
	}
	if aerr := c.recordAudit(ctx, done); aerr != nil {
		// The request entry names the account, so the list still finds it.
		c.logger.Warn("could not audit an overdraft account's outcome", "account", cmd.GetAccountId(), "outcome", done.Outcome, "error", aerr)
	}
	if err != nil {
		c.logger.Warn("opening an overdraft account failed", "operator", operator, "account", cmd.GetAccountId(), "cell", cellID, "error", err)
		return nil, err
	}
	return &pb.OverdraftAccount{CellId: cellID, Account: acct, Operator: operator, Reason: entry.GetReason(), Replayed: replayed}, nil
}

// validateOverdraftRequest checks what CreateAccount checks, and the reason.
func validateOverdraftRequest(cmd *pb.CreateAccount, reason string) error {
	// The account and currency first, with a placeholder key: a default key
	// is made from the account id (cellpay account create), so a bad id is
	// the error to report, not the key made of it.
	placeholder := proto.CloneOf(cmd)
	placeholder.IdempotencyKey = "k"
	for _, c := range []*pb.CreateAccount{placeholder, cmd} {
		if err := cell.ValidateCreateAccount(c); err != nil {
			return cell.InputStatus(err, 0)
		}
	}
	field := func(why string) error {
		return rpcstatus.Error(codes.InvalidArgument, rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT),
			"router: reason "+why, map[string]string{rpcstatus.MetaField: "reason"})
	}
	switch {
	case strings.TrimSpace(reason) == "":
		return field("is required: say why this account may go below zero")
	case len(reason) > overdraftReasonBytesMax:
		return field(fmt.Sprintf("is %d bytes, more than %d", len(reason), overdraftReasonBytesMax))
	case !utf8.ValidString(reason):
		return field("is not valid UTF-8")
	case strings.ContainsFunc(reason, unicode.IsControl):
		// one line in logs and tables
		return field("contains a control character (newline, tab, ...)")
	}
	return nil
}

// auditFieldBytesMax bounds the ids of a refused request in its audit
// entry (valid ones are shorter: cell/validate.go).
const auditFieldBytesMax = 128

func clip(s string) string {
	if len(s) <= auditFieldBytesMax {
		return s
	}
	return strings.ToValidUTF8(s[:auditFieldBytesMax], "") + "..."
}

// truncateReason keeps a refused request's reason within the bound for the
// audit log.
func truncateReason(r string) string {
	if len(r) <= overdraftReasonBytesMax {
		return r
	}
	return strings.ToValidUTF8(r[:overdraftReasonBytesMax], "")
}

// overdraftCandidate is an account the audit log says was asked for.
type overdraftCandidate struct {
	accountID        string
	cellID           uint64
	operator, reason string
}

// overdraftCandidates returns, sorted by account, every account an
// attempt was made to open (a request entry: its cell may have opened it,
// whatever the outcome entry says or if there is none), with the operator
// and reason of the attempt that opened it (else of the first request).
func overdraftCandidates(audit []*pb.AuditEntry) []overdraftCandidate {
	byAccount := map[string]*overdraftCandidate{}
	for _, a := range audit {
		if a.GetAction() != AuditActionOverdraftCreate || a.GetAccountId() == "" || a.GetCellId() == 0 {
			continue
		}
		cand, seen := byAccount[a.GetAccountId()]
		switch {
		case a.GetOutcome() == AuditOutcomeRequested && !seen:
			byAccount[a.GetAccountId()] = &overdraftCandidate{accountID: a.GetAccountId(), cellID: a.GetCellId(), operator: a.GetOperator(), reason: a.GetReason()}
		case a.GetOutcome() == AuditOutcomeCreated && seen:
			cand.operator, cand.reason = a.GetOperator(), a.GetReason()
		}
	}
	out := make([]overdraftCandidate, 0, len(byAccount))
	for _, cand := range byAccount {
		out = append(out, *cand)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].accountID < out[j].accountID })
	return out
}

// ListOverdraftAccounts implements pb.ControlServer: the accounts the
// audit log says were asked for, each confirmed by its cell's leader (an
// account never opened, or opened without the flag by someone else, is
// left out).
func (c *Control) ListOverdraftAccounts(ctx context.Context, _ *pb.ListOverdraftAccountsRequest) (*pb.ListOverdraftAccountsResponse, error) {
	if _, err := c.admitOverdraftCall(ctx, "listing the overdraft accounts", &pb.AuditEntry{Action: AuditActionOverdraftList, Detail: "list the overdraft accounts"}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, overdraftListTimeout)
	defer cancel()
	// Every account requested before the call is in what this replica reads.
	rctx, rcancel := context.WithTimeout(ctx, overdraftRecordTimeout)
	err := c.meta.LinearizableRead(rctx)
	rcancel()
	if err != nil {
		var nl *replication.NotLeaderError
		if errors.As(err, &nl) {
			return nil, c.notLeader(c.meta)
		}
		return nil, status.Errorf(codes.Unavailable, "router: confirming the meta leadership before reading the audit log: %v", err)
	}
	snap, err := meta.Read(c.meta.Reader(), 0, overdraftAuditScanMax)
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "router: reading the audit log: %v", err)
	}
	out := &pb.ListOverdraftAccountsResponse{AnsweredBy: c.host.NodeID()}
	var truncated []string
	if len(snap.Audit) >= overdraftAuditScanMax {
		truncated = append(truncated, fmt.Sprintf("only the newest %d audit entries were searched", overdraftAuditScanMax))
	}
	cands := overdraftCandidates(snap.Audit)
	if len(cands) > overdraftListAccountsMax {
		truncated = append(truncated, fmt.Sprintf("%d accounts were asked for; the first %d by id were read", len(cands), overdraftListAccountsMax))
		cands = cands[:overdraftListAccountsMax]
	}
	out.TruncatedBecause = strings.Join(truncated, "; ")

	type read struct {
		acct *pb.Account
		err  error
	}
	reads := make([]read, len(cands))
	slots := make(chan struct{}, overdraftReadsInFlightMax)
	var wg sync.WaitGroup
	fwd := c.cellForwarder()
	for i, cand := range cands {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			reads[i].err = fwd.Do(ctx, cand.cellID, func(ctx context.Context, cl pb.CellClient) (err error) {
				reads[i].acct, err = cl.GetAccount(ctx, &pb.GetAccountRequest{CellId: cand.cellID, AccountId: cand.accountID})
				return err
			})
		}()
	}
	wg.Wait()
	accountNotFound := rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND)
	for i, cand := range cands {
		r := reads[i]
		switch {
		case r.err != nil && rpcstatus.Reason(r.err) == accountNotFound:
			continue // asked for, never opened (refused by its cell)
		case r.err != nil:
			out.Unread = append(out.Unread, fmt.Sprintf("account %s (cell %d): %s", cand.accountID, cand.cellID, status.Convert(r.err).Message()))
		case r.acct.GetAllowNegativeBalance():
			out.Accounts = append(out.Accounts, &pb.OverdraftAccount{CellId: cand.cellID, Account: r.acct, Operator: cand.operator, Reason: cand.reason})
		}
	}
	return out, nil
}
