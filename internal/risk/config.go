package risk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"
	_ "time/tzdata" // unusual_hour's time zones must load on hosts without a zoneinfo database
)

// Rule names.
const (
	RuleAmountAboveUsual      = "amount_above_usual"
	RuleNewRecipient          = "new_recipient"
	RuleVelocityCount         = "velocity_count"
	RuleManyRecipients        = "many_recipients"
	RuleAfterLogin            = "after_login"
	RuleAfterCredentialChange = "after_credential_change"
	RuleUnusualHour           = "unusual_hour"
	RuleNewIPDevice           = "new_ip_device"
)

// Limits of a configuration.
const (
	MaxConfigBytes  = 64 << 10             // the JSON text Parse reads
	MaxPoints       = 1000                 // points of one rule
	MaxReviewScore  = 1_000_000            // review_score
	MaxWindow       = 24 * time.Hour       // window_minutes
	MaxLookback     = 730 * 24 * time.Hour // lookback_days
	MaxWithin       = 30 * 24 * time.Hour  // within_minutes
	MaxCount        = 10_000               // count
	MaxPercent      = 1_000_000            // percent_of_usual (10,000×)
	MaxMinHistory   = UsualSample          // min_history: "usual" never rests on more rows than that
	maxTimezoneName = 64
)

// Config is a set of rules, their weights and the review threshold. Build
// one with Default or Parse; a hand-built Config should pass Validate.
type Config struct {
	// ReviewScore: a transfer scoring at least this goes to review; 0
	// sends every transfer to review (a switch for incidents), a score above
	// the sum of all points none.
	ReviewScore int
	// Window is the velocity window of velocity_count and many_recipients:
	// History.RecentTransfers and RecentRecipients count the transfers
	// created within it.
	Window time.Duration
	// Lookback is how far back History.UsualAmount and Transfers look.
	Lookback time.Duration
	// Rules run in this order; each name at most once.
	Rules []RuleConfig
}

// RuleConfig is one rule: its name, the points it adds when it fires and its
// parameters. Each rule reads only its own parameters (see the package
// comment); the others must stay zero.
type RuleConfig struct {
	Name    string
	Points  int // added to the score when the rule fires, 0..MaxPoints
	Enabled bool

	// amount_above_usual: fires when amount >= PercentOfUsual% of the usual
	// amount (1000 is 10×), once the customer has MinHistory executed
	// transfers in the currency within the lookback.
	PercentOfUsual int
	MinHistory     int
	// velocity_count: at least Count earlier transfers in the window;
	// many_recipients: at least Count distinct recipients in the window.
	Count int
	// after_login, after_credential_change: the event is at most Within
	// before the transfer.
	Within time.Duration
	// unusual_hour: the local hour in Location (nil: UTC) is in
	// [FromHour, ToHour), wrapping past midnight when FromHour > ToHour.
	FromHour, ToHour int
	Location         *time.Location
}

// Default returns the default rules (the table in the package comment).
func Default() Config {
	return Config{
		ReviewScore: 70,
		Window:      10 * time.Minute,
		Lookback:    90 * 24 * time.Hour,
		Rules: []RuleConfig{
			{Name: RuleAmountAboveUsual, Points: 35, Enabled: true, PercentOfUsual: 1000, MinHistory: 3},
			{Name: RuleNewRecipient, Points: 15, Enabled: true},
			{Name: RuleVelocityCount, Points: 35, Enabled: true, Count: 10},
			{Name: RuleManyRecipients, Points: 30, Enabled: true, Count: 5},
			{Name: RuleAfterLogin, Points: 10, Enabled: true, Within: 2 * time.Minute},
			{Name: RuleAfterCredentialChange, Points: 40, Enabled: true, Within: 24 * time.Hour},
			{Name: RuleUnusualHour, Points: 10, Enabled: true, FromHour: 0, ToHour: 5, Location: time.UTC},
			{Name: RuleNewIPDevice, Points: 25, Enabled: true},
		},
	}
}

// defaultRule returns the default configuration of a rule.
func defaultRule(name string) (RuleConfig, bool) {
	for _, r := range Default().Rules {
		if r.Name == name {
			return r, true
		}
	}
	return RuleConfig{}, false
}

// RuleNames lists every rule, in the default order.
func RuleNames() []string {
	var names []string
	for _, r := range Default().Rules {
		names = append(names, r.Name)
	}
	return names
}

// ruleParams lists the JSON parameters of each rule.
var ruleParams = map[string][]string{
	RuleAmountAboveUsual:      {"percent_of_usual", "min_history"},
	RuleNewRecipient:          nil,
	RuleVelocityCount:         {"count"},
	RuleManyRecipients:        {"count"},
	RuleAfterLogin:            {"within_minutes"},
	RuleAfterCredentialChange: {"within_minutes"},
	RuleUnusualHour:           {"from_hour", "to_hour", "timezone"},
	RuleNewIPDevice:           nil,
}

// Validate checks the whole configuration and names every problem.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ReviewScore < 0 || c.ReviewScore > MaxReviewScore {
		bad("review_score: must be between 0 and %d, not %d", MaxReviewScore, c.ReviewScore)
	}
	if c.Window < time.Minute || c.Window > MaxWindow {
		bad("window_minutes: must be between 1 and %d minutes, not %s", int(MaxWindow/time.Minute), c.Window)
	}
	if c.Lookback < 24*time.Hour || c.Lookback > MaxLookback {
		bad("lookback_days: must be between 1 and %d days, not %s", int(MaxLookback/(24*time.Hour)), c.Lookback)
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if seen[r.Name] {
			bad("rules[%d]: rule %q appears twice", i, r.Name)
			continue
		}
		seen[r.Name] = true
		if err := r.validate(); err != nil {
			bad("rules[%d] (%s): %w", i, r.Name, err)
		}
	}
	return errors.Join(errs...)
}

func (r RuleConfig) validate() error {
	own, known := ruleParams[r.Name]
	if !known {
		return fmt.Errorf("unknown rule %q (rules: %v)", r.Name, RuleNames())
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Points < 0 || r.Points > MaxPoints {
		bad("points: must be between 0 and %d, not %d", MaxPoints, r.Points)
	}
	check := func(lo, hi, v int, name string) {
		if !slices.Contains(own, name) {
			if v != 0 {
				bad("%s: not a parameter of this rule", name)
			}
			return
		}
		if v < lo || v > hi {
			bad("%s: must be between %d and %d, not %d", name, lo, hi, v)
		}
	}
	check(1, MaxPercent, r.PercentOfUsual, "percent_of_usual")
	check(1, MaxMinHistory, r.MinHistory, "min_history")
	check(1, MaxCount, r.Count, "count")
	// Within is checked as a duration so that a hand-built one may have
	// seconds; JSON carries whole minutes.
	if !slices.Contains(own, "within_minutes") {
		if r.Within != 0 {
			bad("within_minutes: not a parameter of this rule")
		}
	} else if r.Within <= 0 || r.Within > MaxWithin {
		bad("within_minutes: must be between 1 and %d minutes, not %s", int(MaxWithin/time.Minute), r.Within)
	}
	if r.Name == RuleUnusualHour {
		if r.FromHour < 0 || r.FromHour > 23 || r.ToHour < 0 || r.ToHour > 23 {
			bad("from_hour, to_hour: must be between 0 and 23, not %d and %d", r.FromHour, r.ToHour)
		} else if r.FromHour == r.ToHour {
			bad("from_hour, to_hour: must differ (%d and %d make an empty range)", r.FromHour, r.ToHour)
		}
	} else {
		if r.FromHour != 0 || r.ToHour != 0 {
			bad("from_hour, to_hour: not parameters of this rule")
		}
		if r.Location != nil {
			bad("timezone: not a parameter of this rule")
		}
	}
	return errors.Join(errs...)
}

// Parse reads a configuration from JSON (the format in the package comment)
// and validates it. Omitted settings take their defaults: review_score,
// window_minutes and lookback_days; a rule's points, parameters and
// enabled (true). Omitting "rules" means the default rules; an empty list
// means none. Unknown keys, unknown rules, a rule listed twice, values out
// of range, an unknown time zone and trailing data are errors that name
// what is wrong.
func Parse(raw []byte) (Config, error) {
	c, err := parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("risk rules: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("risk rules: %w", err)
	}
	return c, nil
}

func parse(raw []byte) (Config, error) {
	if len(raw) > MaxConfigBytes {
		return Config{}, fmt.Errorf("larger than %d bytes", MaxConfigBytes)
	}
	top, err := object(raw, "", "review_score", "window_minutes", "lookback_days", "rules")
	if err != nil {
		return Config{}, err
	}
	c := Default()
	if err := intField(top, "review_score", "", &c.ReviewScore); err != nil {
		return Config{}, err
	}
	if err := durationField(top, "window_minutes", "", &c.Window, time.Minute); err != nil {
		return Config{}, err
	}
	if err := durationField(top, "lookback_days", "", &c.Lookback, 24*time.Hour); err != nil {
		return Config{}, err
	}
	rawRules, ok := top["rules"]
	if !ok {
		return c, nil
	}
	var list []json.RawMessage
	if err := strict(rawRules, &list); err != nil {
		return Config{}, fmt.Errorf("rules: must be a list of rules: %w", err)
	}
	if len(list) > len(ruleParams) {
		return Config{}, fmt.Errorf("rules: %d rules, but there are only %d (each at most once)", len(list), len(ruleParams))
	}
	c.Rules = make([]RuleConfig, 0, len(list))
	for i, raw := range list {
		r, err := parseRule(raw)
		if err != nil {
			return Config{}, fmt.Errorf("rules[%d]%s", i, err)
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

// parseRule reads one rule; its errors start with the rule's name in
// parentheses when known, so that the caller can prefix the index.
func parseRule(raw json.RawMessage) (RuleConfig, error) {
	m, err := object(raw, "", "name", "points", "enabled", "params")
	if err != nil {
		return RuleConfig{}, fmt.Errorf(": %w", err)
	}
	var name string
	if v, ok := m["name"]; !ok {
		return RuleConfig{}, errors.New(": name: is required")
	} else if err := strict(v, &name); err != nil {
		return RuleConfig{}, fmt.Errorf(": name: %w", err)
	}
	r, known := defaultRule(name)
	if !known {
		return RuleConfig{}, fmt.Errorf(": unknown rule %q (rules: %v)", name, RuleNames())
	}
	wrap := func(err error) error { return fmt.Errorf(" (%s): %w", name, err) }
	if err := intField(m, "points", "", &r.Points); err != nil {
		return RuleConfig{}, wrap(err)
	}
	if v, ok := m["enabled"]; ok {
		if err := strict(v, &r.Enabled); err != nil {
			return RuleConfig{}, wrap(fmt.Errorf("enabled: %w", err))
		}
	}
	rawParams, ok := m["params"]
	if !ok {
		return r, nil
	}
	p, err := object(rawParams, "params.", ruleParams[name]...)
	if err != nil {
		return RuleConfig{}, wrap(err)
	}
	for _, step := range []error{
		intField(p, "percent_of_usual", "params.", &r.PercentOfUsual),
		intField(p, "min_history", "params.", &r.MinHistory),
		intField(p, "count", "params.", &r.Count),
		durationField(p, "within_minutes", "params.", &r.Within, time.Minute),
		intField(p, "from_hour", "params.", &r.FromHour),
		intField(p, "to_hour", "params.", &r.ToHour),
	} {
		if step != nil {
			return RuleConfig{}, wrap(step)
		}
	}
	if v, ok := p["timezone"]; ok {
		var tz string
		if err := strict(v, &tz); err != nil {
			return RuleConfig{}, wrap(fmt.Errorf("params.timezone: %w", err))
		}
		loc, err := loadLocation(tz)
		if err != nil {
			return RuleConfig{}, wrap(fmt.Errorf("params.timezone: %w", err))
		}
		r.Location = loc
	}
	return r, nil
}

// loadLocation loads an IANA time zone by name ("UTC", "Europe/Paris").
// Go's zone database is embedded (time/tzdata), so this works on any host.
func loadLocation(name string) (*time.Location, error) {
	// time.LoadLocation reads "" and "Local" as UTC and the host's zone:
	// neither is a deliberate, portable choice.
	if name == "" || name == "Local" || len(name) > maxTimezoneName {
		return nil, fmt.Errorf("%q is not an IANA time zone name such as \"UTC\" or \"Europe/Paris\"", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone name such as \"UTC\" or \"Europe/Paris\"", name)
	}
	return loc, nil
}

// object decodes a JSON object and refuses keys outside allowed, naming
// them (with prefix) in sorted order. Keys are matched exactly.
func object(raw []byte, prefix string, allowed ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := strict(raw, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		if prefix == "" {
			return nil, fmt.Errorf("must be a JSON object: %w", err)
		}
		return nil, fmt.Errorf("%s: must be a JSON object: %w", prefix[:len(prefix)-1], err)
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, prefix+k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if prefix == "params." {
			return nil, fmt.Errorf("unknown parameters %q (this rule takes %q)", unknown, allowed)
		}
		return nil, fmt.Errorf("unknown fields %q (allowed: %q)", unknown, allowed)
	}
	return m, nil
}

// strict decodes one JSON value, refusing trailing data.
func strict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// intField decodes m[key], if present, as an integer into dst.
func intField(m map[string]json.RawMessage, key, prefix string, dst *int) error {
	v, ok := m[key]
	if !ok {
		return nil
	}
	if err := strict(v, dst); err != nil {
		return fmt.Errorf("%s%s: must be an integer: %w", prefix, key, err)
	}
	return nil
}

// durationField decodes m[key], if present, as a whole number of units
// (minutes, days) into dst. The range is checked by Validate; the bound here
// only keeps the multiplication from overflowing.
func durationField(m map[string]json.RawMessage, key, prefix string, dst *time.Duration, unit time.Duration) error {
	var n int
	if _, ok := m[key]; !ok {
		return nil
	}
	if err := intField(m, key, prefix, &n); err != nil {
		return err
	}
	if n < 0 || int64(n) > int64(math.MaxInt64/unit) {
		return fmt.Errorf("%s%s: %d is out of range", prefix, key, n)
	}
	*dst = time.Duration(n) * unit
	return nil
}

// MarshalJSON writes c in the format Parse reads, every setting explicit.
// Durations are written in whole minutes (days for the lookback), rounded
// down.
func (c Config) MarshalJSON() ([]byte, error) {
	type ruleJSON struct {
		Name    string         `json:"name"`
		Points  int            `json:"points"`
		Enabled bool           `json:"enabled"`
		Params  map[string]any `json:"params,omitempty"`
	}
	out := struct {
		ReviewScore   int        `json:"review_score"`
		WindowMinutes int64      `json:"window_minutes"`
		LookbackDays  int64      `json:"lookback_days"`
		Rules         []ruleJSON `json:"rules"`
	}{c.ReviewScore, int64(c.Window / time.Minute), int64(c.Lookback / (24 * time.Hour)), []ruleJSON{}}
	for _, r := range c.Rules {
		p := map[string]any{}
		for _, name := range ruleParams[r.Name] {
			switch name {
			case "percent_of_usual":
				p[name] = r.PercentOfUsual
			case "min_history":
				p[name] = r.MinHistory
			case "count":
				p[name] = r.Count
			case "within_minutes":
				p[name] = int64(r.Within / time.Minute)
			case "from_hour":
				p[name] = r.FromHour
			case "to_hour":
				p[name] = r.ToHour
			case "timezone":
				loc := r.Location
				if loc == nil {
					loc = time.UTC
				}
				p[name] = loc.String()
			}
		}
		out.Rules = append(out.Rules, ruleJSON{r.Name, r.Points, r.Enabled, p})
	}
	return json.Marshal(out)
}

// Query returns the LoadHistory query for in (whose History it fills) made
// in the session sessionID, with c's lookback and window.
func (c Config) Query(in Input, sessionID string) Query {
	return Query{
		UserID:    in.UserID,
		Currency:  in.Currency,
		Recipient: in.Recipient,
		IP:        in.IP,
		UserAgent: in.UserAgent,
		SessionID: sessionID,
		Now:       in.Now,
		Lookback:  c.Lookback,
		Window:    c.Window,
	}
}
