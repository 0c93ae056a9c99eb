package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/cellpay/cellpay/chaos/fabric"
)

// DefaultControlAddr is where the control API listens when Config.ControlAddr
// is empty, and where the cellpay chaos commands look for it by default.
const DefaultControlAddr = "127.0.0.1:7400"

// siteNameBytesMax bounds site names from config files and the control API.
const siteNameBytesMax = 200

// configBytesMax bounds a config file; real ones are a few kilobytes.
const configBytesMax = 4 << 20

// ErrInvalidConfig marks every error of ParseConfig, LoadConfig and
// Config.Validate about the content of the config.
var ErrInvalidConfig = errors.New("proxy: invalid config")

// Route is one listening port of the proxy, for one (from-site, target) pair:
// the processes of FromSite dial ListenAddr instead of TargetAddr, and the
// proxy forwards each conn to TargetAddr with the fabric's faults between
// FromSite and TargetSite.
type Route struct {
	// Name identifies the route in status output; default
	// "FromSite->TargetAddr". Unique.
	Name       string `json:"name"`
	FromSite   string `json:"from_site"`
	ListenAddr string `json:"listen_addr"` // host:port; port 0 picks one (see Proxy.Routes)
	TargetAddr string `json:"target_addr"` // host:port of the real listener
	TargetSite string `json:"target_site"` // the site of TargetAddr
}

// SiteLink is the link of one direction between two sites.
type SiteLink struct {
	From string      `json:"from"`
	To   string      `json:"to"`
	Link fabric.Link `json:"link"`
}

// Config is what the proxy runs. Its JSON form is the file of
// `cellpay chaos proxy --config FILE` (see doc.go).
type Config struct {
	Routes []Route `json:"routes"`
	// ControlAddr is the host:port of the HTTP control API; empty means
	// DefaultControlAddr, port 0 picks one (see Proxy.ControlAddr).
	ControlAddr string `json:"control_addr"`
	// Seed makes jitter and loss reproducible (fabric.New).
	Seed int64 `json:"seed"`
	// Links are set before the first conn, e.g. the WAN's normal delays.
	Links []SiteLink `json:"links,omitempty"`
}

// FieldError names the field of a config or of a control API request that is
// wrong, e.g. "routes[1].listen_addr" or "a".
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate reports every problem of c at once, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.ControlAddr != "" {
		if err := checkAddr(c.ControlAddr); err != nil {
			add("control_addr", "%v", err)
		}
	}
	if len(c.Routes) == 0 {
		add("routes", "at least one route is required")
	}
	names := map[string]int{}
	listens := map[string]int{}
	targetSites := map[string]string{}
	for i, r := range c.Routes {
		field := func(name string) string { return fmt.Sprintf("routes[%d].%s", i, name) }
		for _, f := range []struct{ name, value string }{{"from_site", r.FromSite}, {"target_site", r.TargetSite}} {
			if err := checkSite(f.value); err != nil {
				add(field(f.name), "%v", err)
			}
		}
		for _, f := range []struct{ name, value string }{{"listen_addr", r.ListenAddr}, {"target_addr", r.TargetAddr}} {
			if err := checkAddr(f.value); err != nil {
				add(field(f.name), "%v", err)
			}
		}
		name := r.routeName()
		if j, dup := names[name]; dup {
			add(field("name"), "%q is also the name of routes[%d]", name, j)
		} else {
			names[name] = i
		}
		if r.ListenAddr != "" && !strings.HasSuffix(r.ListenAddr, ":0") {
			if j, dup := listens[r.ListenAddr]; dup {
				add(field("listen_addr"), "%s is also the listen_addr of routes[%d]", r.ListenAddr, j)
			} else {
				listens[r.ListenAddr] = i
			}
		}
		if site, seen := targetSites[r.TargetAddr]; seen && site != r.TargetSite {
			add(field("target_site"), "%s is in site %q in an earlier route; an address has one site", r.TargetAddr, site)
		} else if !seen && r.TargetAddr != "" {
			targetSites[r.TargetAddr] = r.TargetSite
		}
	}
	for i, l := range c.Links {
		for _, f := range []struct{ name, value string }{{"from", l.From}, {"to", l.To}} {
			if err := checkSite(f.value); err != nil {
				add(fmt.Sprintf("links[%d].%s", i, f.name), "%v", err)
			}
		}
		if err := l.Link.Validate(); err != nil {
			add(fmt.Sprintf("links[%d].link", i), "%v", err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n%w", ErrInvalidConfig, errors.Join(errs...))
}

func (r Route) routeName() string {
	if r.Name != "" {
		return r.Name
	}
	return r.FromSite + "->" + r.TargetAddr
}

// ParseConfig reads a JSON config strictly (unknown fields are errors) and
// validates it.
func ParseConfig(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, configBytesMax+1))
	if err != nil {
		return Config{}, err
	}
	if len(data) > configBytesMax {
		return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidConfig, configBytesMax)
	}
	// Links are decoded one by one, so an error names which one.
	var file struct {
		Config
		Links []struct {
			From string          `json:"from"`
			To   string          `json:"to"`
			Link json.RawMessage `json:"link"`
		} `json:"links"`
	}
	if err := decodeStrict(data, &file); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := file.Config
	var linkErrs []error
	for i, l := range file.Links {
		var link fabric.Link
		if len(l.Link) > 0 {
			if err := decodeStrict(l.Link, &link); err != nil {
				var fieldErr *FieldError
				if errors.As(err, &fieldErr) {
					field := fmt.Sprintf("links[%d].link", i)
					if fieldErr.Field != "link" && fieldErr.Field != "body" {
						field += "." + fieldErr.Field
					}
					err = &FieldError{Field: field, Problem: fieldErr.Problem}
				}
				linkErrs = append(linkErrs, err)
			}
		}
		c.Links = append(c.Links, SiteLink{From: l.From, To: l.To, Link: link})
	}
	err = c.Validate()
	if len(linkErrs) > 0 {
		if err == nil {
			err = ErrInvalidConfig
		}
		return Config{}, fmt.Errorf("%w\n%w", err, errors.Join(linkErrs...))
	}
	return c, err
}

// LoadConfig reads and validates the config file at path.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	c, err := ParseConfig(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// decodeStrict decodes one JSON value into v: no unknown fields, nothing
// after it. Errors are *FieldError naming the field where encoding/json
// says which ("body" when it does not).
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Field: "body", Problem: "trailing data after the JSON value"}
	}
	return nil
}

func jsonFieldError(err error) error {
	var fieldErr *fabric.FieldError
	if errors.As(err, &fieldErr) {
		field := "link"
		if fieldErr.Field != "" {
			field = fieldErr.Field
		}
		return &FieldError{Field: field, Problem: fieldErr.Problem}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &FieldError{Field: typeErr.Field, Problem: fmt.Sprintf("got a JSON %s, want %s", typeErr.Value, typeErr.Type)}
	}
	// encoding/json has no error type for unknown fields, only this message.
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		return &FieldError{Field: strings.TrimSuffix(name, `"`), Problem: "unknown field"}
	}
	if err == io.EOF {
		return &FieldError{Field: "body", Problem: "empty; want a JSON object"}
	}
	return &FieldError{Field: "body", Problem: "not valid JSON: " + err.Error()}
}

func checkSite(site string) error {
	switch {
	case site == "":
		return errors.New("is empty")
	case len(site) > siteNameBytesMax:
		return fmt.Errorf("is longer than %d bytes", siteNameBytesMax)
	case strings.ContainsFunc(site, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }):
		return fmt.Errorf("%q has a space, slash or control character", site)
	}
	return nil
}

func checkAddr(addr string) error {
	if addr == "" {
		return errors.New("is empty")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	return nil
}
