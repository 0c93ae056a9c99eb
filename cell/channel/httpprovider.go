package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bounds of the answers an HTTPProvider reads.
const (
	// answerBytesMax bounds the answer about one payout (~300 bytes).
	answerBytesMax = 64 << 10
	// statementBytesMax bounds GET /statement: ~250 bytes an entry, for a
	// simulator's 1<<20 payouts.
	statementBytesMax = 512 << 20
)

// HTTPProviderConfig configures an HTTPProvider. Start from
// DefaultHTTPProviderConfig.
type HTTPProviderConfig struct {
	// Name is the provider's name (required), as SimConfig.Name.
	Name string
	// BaseURL is where the provider's API is, e.g. "http://127.0.0.1:7500"
	// (required; http or https; a path prefix is kept).
	BaseURL string
	// HTTPClient does the requests (a copy of it that follows no
	// redirects). Default: a client of its own, so no global is shared or
	// changed.
	HTTPClient *http.Client
	// Token, when not empty, is sent as "Authorization: Bearer TOKEN".
	Token string
	// CallTimeout bounds every call even when its context has no deadline
	// (a hung provider must not hang its caller for ever). Default 10s.
	CallTimeout time.Duration
	// IdempotencyWindow is how long the provider keeps payout ids, as its
	// operator documents it (see IdempotencyWindower); the provider's
	// answers cannot be trusted to tell it, so it is configured. Too short
	// is safe (payouts wait for an operator sooner), too long risks paying
	// twice. 0 (the default): none promised, ErrNotFound is never final.
	// 0 to IdempotencyWindowMax.
	IdempotencyWindow time.Duration
}

// DefaultHTTPProviderConfig is a config with every default filled in.
func DefaultHTTPProviderConfig(name, baseURL string) HTTPProviderConfig {
	return HTTPProviderConfig{
		Name:        name,
		BaseURL:     baseURL,
		HTTPClient:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		CallTimeout: 10 * time.Second,
	}
}

// Validate reports every problem of c at once (kind ErrInvalidConfig).
func (c HTTPProviderConfig) Validate() error {
	var errs []error
	if err := checkID("name", c.Name, NameBytesMax, ErrInvalidConfig); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "base_url", Problem: fmt.Sprintf("%q is not an http(s)://host[:port][/path] URL", truncate(c.BaseURL))})
	}
	if c.HTTPClient == nil {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "http_client", Problem: "is required"})
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "token", Problem: "has a line break"})
	}
	if c.CallTimeout <= 0 {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "call_timeout", Problem: fmt.Sprintf("%s is not positive", c.CallTimeout)})
	}
	if c.IdempotencyWindow < 0 || c.IdempotencyWindow > IdempotencyWindowMax {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "idempotency_window", Problem: fmt.Sprintf("%s is not between 0 (none promised) and %s", c.IdempotencyWindow, IdempotencyWindowMax)})
	}
	return errors.Join(errs...)
}

// HTTPProvider is a Provider behind the HTTP API of NewHTTPHandler (e.g.
// `cellpay provider`). Only three answers are definite: a result of
// SUCCEEDED or FAILED about the payout asked for, and the rejections
// invalid_payout (of Submit or Query), id_reused and (Query) not_found. Everything else —
// transport errors, timeouts, 5xx, any other status, an answer that cannot
// be read or is about another payout — is ErrOutcomeUnknown, never FAILED.
// Safe for concurrent use.
type HTTPProvider struct {
	cfg  HTTPProviderConfig
	base string // BaseURL without a trailing slash
}

// NewHTTPProvider checks cfg and builds the provider.
func NewHTTPProvider(cfg HTTPProviderConfig) (*HTTPProvider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A redirect is answered as it is (and so is not definite): following
	// it would turn a POST into a GET of another URL.
	client := *cfg.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &client
	return &HTTPProvider{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// Name is the provider's name.
func (p *HTTPProvider) Name() string { return p.cfg.Name }

// IdempotencyWindow is HTTPProviderConfig.IdempotencyWindow (0: none
// promised).
func (p *HTTPProvider) IdempotencyWindow() time.Duration { return p.cfg.IdempotencyWindow }

// Submit sends POST /payouts.
func (p *HTTPProvider) Submit(ctx context.Context, payout Payout) (Result, error) {
	if err := payout.Validate(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(payout)
	if err != nil {
		return Result{}, fmt.Errorf("channel: %s: submit %s: %w", p.cfg.Name, payout.ID, err)
	}
	status, raw, err := p.do(ctx, http.MethodPost, "/payouts", body, answerBytesMax)
	if err != nil {
		return Result{}, p.unknown("submit", payout.ID, err)
	}
	if status == http.StatusOK {
		return p.result("submit", payout.ID, raw)
	}
	apiErr := decodeError(raw)
	switch {
	case status == http.StatusBadRequest && apiErr.Kind == kindInvalidPayout:
		return Result{}, p.rejected("submit", payout.ID, &FieldError{Kind: ErrInvalidPayout, Field: apiErr.Field, Problem: "rejected by the provider: " + truncate(apiErr.Error)})
	case status == http.StatusConflict && apiErr.Kind == kindIDReused && apiErr.PayoutID == payout.ID:
		return Result{}, p.rejected("submit", payout.ID, fmt.Errorf("%w: %s", ErrIDReused, truncate(apiErr.Error)))
	}
	return Result{}, p.unknown("submit", payout.ID, statusError(status, apiErr, raw))
}

// Query sends GET /payouts/{id}.
func (p *HTTPProvider) Query(ctx context.Context, payoutID string) (Result, error) {
	if err := ValidatePayoutID(payoutID); err != nil {
		return Result{}, err
	}
	status, raw, err := p.do(ctx, http.MethodGet, "/payouts/"+url.PathEscape(payoutID), nil, answerBytesMax)
	if err != nil {
		return Result{}, p.unknown("query", payoutID, err)
	}
	if status == http.StatusOK {
		return p.result("query", payoutID, raw)
	}
	apiErr := decodeError(raw)
	switch {
	case status == http.StatusNotFound && apiErr.Kind == kindNotFound && apiErr.PayoutID == payoutID:
		// The id is echoed: a 404 of a wrong BaseURL or a proxy is not
		// taken for "the provider has no record".
		return Result{}, p.rejected("query", payoutID, ErrNotFound)
	case status == http.StatusBadRequest && apiErr.Kind == kindInvalidPayout:
		return Result{}, p.rejected("query", payoutID, &FieldError{Kind: ErrInvalidPayout, Field: apiErr.Field, Problem: "rejected by the provider: " + truncate(apiErr.Error)})
	}
	return Result{}, p.unknown("query", payoutID, statusError(status, apiErr, raw))
}

// ReadStatement sends GET /statement.
func (p *HTTPProvider) ReadStatement(ctx context.Context) ([]StatementEntry, error) {
	status, raw, err := p.do(ctx, http.MethodGet, "/statement", nil, statementBytesMax)
	if err != nil {
		return nil, fmt.Errorf("channel: %s: statement: %w", p.cfg.Name, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("channel: %s: statement: %w", p.cfg.Name, statusError(status, decodeError(raw), raw))
	}
	var st statementJSON
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("channel: %s: statement: unreadable answer: %w", p.cfg.Name, err)
	}
	if st.Provider != p.cfg.Name {
		return nil, fmt.Errorf("channel: %s: statement: the answer is the statement of %q", p.cfg.Name, truncate(st.Provider))
	}
	return st.Entries, nil
}

// do sends one request and reads the answer, at most bytesMax bytes.
func (p *HTTPProvider) do(ctx context.Context, method, path string, body []byte, bytesMax int64) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	var reqBody io.Reader = http.NoBody
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, reqBody)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, bytesMax+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if int64(len(raw)) > bytesMax {
		return 0, nil, fmt.Errorf("the answer (HTTP %d) is larger than %d bytes", resp.StatusCode, bytesMax)
	}
	return resp.StatusCode, raw, nil
}

// result reads a 200 answer about payout id: definite only if it is about
// that payout and its fields are sound.
func (p *HTTPProvider) result(call, id string, raw []byte) (Result, error) {
	var ans resultJSON
	if err := json.Unmarshal(raw, &ans); err != nil {
		return Result{}, p.unknown(call, id, fmt.Errorf("unreadable answer: %w", err))
	}
	if ans.PayoutID != id {
		return Result{}, p.unknown(call, id, fmt.Errorf("the answer is about payout %q", truncate(ans.PayoutID)))
	}
	if err := checkText("reason", ans.Reason, ReasonBytesMax, ErrOutcomeUnknown); err != nil {
		return Result{}, p.unknown(call, id, err)
	}
	if err := checkText("provider_ref", ans.ProviderRef, ProviderRefBytesMax, ErrOutcomeUnknown); err != nil {
		return Result{}, p.unknown(call, id, err)
	}
	return Result{Outcome: ans.Outcome, Reason: ans.Reason, ProviderRef: ans.ProviderRef}, nil
}

func (p *HTTPProvider) unknown(call, id string, cause error) error {
	return fmt.Errorf("channel: %s: %s %s: %w: %w", p.cfg.Name, call, id, ErrOutcomeUnknown, cause)
}

func (p *HTTPProvider) rejected(call, id string, cause error) error {
	return fmt.Errorf("channel: %s: %s %s: %w", p.cfg.Name, call, id, cause)
}

// decodeError reads an errorJSON; a body that is not one gives the zero
// value, which matches no definite kind.
func decodeError(raw []byte) errorJSON {
	var e errorJSON
	if json.Unmarshal(raw, &e) != nil {
		return errorJSON{}
	}
	return e
}

func statusError(status int, apiErr errorJSON, raw []byte) error {
	message := apiErr.Error
	if message == "" {
		message = strings.TrimSpace(string(raw))
	}
	return fmt.Errorf("HTTP %d: %s", status, truncate(message))
}
