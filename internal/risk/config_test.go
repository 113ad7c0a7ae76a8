package risk_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/risk"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	c := risk.Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Rules), len(risk.RuleNames()); got != want {
		t.Fatalf("%d default rules, %d names", got, want)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	t.Parallel()
	c, err := risk.Parse([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, risk.Default()) {
		t.Fatalf("Parse({}) = %+v\nwant %+v", c, risk.Default())
	}
}

func TestParseFillsDefaultsPerRule(t *testing.T) {
	t.Parallel()
	c, err := risk.Parse([]byte(`{
		"review_score": 50,
		"window_minutes": 30,
		"rules": [
			{"name": "velocity_count", "points": 45},
			{"name": "new_recipient", "enabled": false},
			{"name": "unusual_hour", "params": {"timezone": "Europe/Paris", "from_hour": 23}}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	want := risk.Config{
		ReviewScore: 50,
		Window:      30 * time.Minute,
		Lookback:    risk.Default().Lookback,
		Rules: []risk.RuleConfig{
			{Name: risk.RuleVelocityCount, Points: 45, Enabled: true, Count: 10},
			{Name: risk.RuleNewRecipient, Points: 15, Enabled: false},
			{Name: risk.RuleUnusualHour, Points: 10, Enabled: true, FromHour: 23, ToHour: 5, Location: paris},
		},
	}
	if c.Rules[2].Location.String() != "Europe/Paris" {
		t.Fatalf("time zone %v", c.Rules[2].Location)
	}
	c.Rules[2].Location = paris // two loads of a zone are equal but distinct values
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseEmptyRulesDisablesScoring(t *testing.T) {
	t.Parallel()
	c, err := risk.Parse([]byte(`{"rules": []}`))
	if err != nil {
		t.Fatal(err)
	}
	in := normal()
	in.History = risk.History{}
	if a := c.Assess(in); a.Score != 0 || a.Review || len(a.Reasons) != 0 {
		t.Fatalf("no rules: %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	rule := func(s string) string { return `{"rules": [` + s + `]}` }
	for _, tc := range []struct {
		name, json string
		want       []string // all in the error
	}{
		{"unknown rule", rule(`{"name": "moon_phase"}`), []string{`rules[0]`, `unknown rule "moon_phase"`}},
		{"unknown top-level field", `{"review_scor": 70}`, []string{`unknown fields ["review_scor"]`}},
		{"field names are exact", `{"Review_Score": 70}`, []string{`"Review_Score"`}},
		{"unknown rule field", rule(`{"name": "new_recipient", "weight": 3}`), []string{`rules[0]`, `"weight"`}},
		{"parameter of another rule", rule(`{"name": "new_recipient"}, {"name": "after_login", "params": {"count": 3}}`),
			[]string{`rules[1] (after_login)`, `unknown parameters ["params.count"]`, `"within_minutes"`}},
		{"unknown parameter", rule(`{"name": "velocity_count", "params": {"window": 3}}`), []string{`"params.window"`}},
		{"negative points", rule(`{"name": "new_recipient", "points": -5}`),
			[]string{`rules[0] (new_recipient): points: must be between 0 and 1000, not -5`}},
		{"too many points", rule(`{"name": "new_recipient", "points": 1001}`), []string{`points: must be between 0 and 1000`}},
		{"bad time zone", rule(`{"name": "unusual_hour", "params": {"timezone": "Mars/Olympus_Mons"}}`),
			[]string{`rules[0] (unusual_hour): params.timezone: "Mars/Olympus_Mons" is not an IANA time zone`}},
		{"host time zone", rule(`{"name": "unusual_hour", "params": {"timezone": "Local"}}`), []string{`"Local" is not an IANA time zone`}},
		{"empty time zone", rule(`{"name": "unusual_hour", "params": {"timezone": ""}}`), []string{`params.timezone`}},
		{"empty hour range", rule(`{"name": "unusual_hour", "params": {"from_hour": 5}}`), []string{`must differ`}},
		{"hour out of range", rule(`{"name": "unusual_hour", "params": {"to_hour": 24}}`), []string{`between 0 and 23`}},
		{"zero count", rule(`{"name": "many_recipients", "params": {"count": 0}}`), []string{`count: must be between 1 and 10000, not 0`}},
		{"count as a string", rule(`{"name": "velocity_count", "params": {"count": "10"}}`), []string{`params.count: must be an integer`}},
		{"count with a fraction", rule(`{"name": "velocity_count", "params": {"count": 1.5}}`), []string{`params.count: must be an integer`}},
		{"zero within", rule(`{"name": "after_login", "params": {"within_minutes": 0}}`), []string{`within_minutes: must be between 1 and 43200`}},
		{"huge within", rule(`{"name": "after_login", "params": {"within_minutes": 9223372036854775807}}`), []string{`within_minutes`}},
		{"zero percent", rule(`{"name": "amount_above_usual", "params": {"percent_of_usual": 0}}`), []string{`percent_of_usual: must be between 1`}},
		{"min history above the sample", rule(`{"name": "amount_above_usual", "params": {"min_history": 51}}`), []string{`min_history: must be between 1 and 50`}},
		{"rule listed twice", rule(`{"name": "new_recipient"}, {"name": "new_recipient", "points": 1}`), []string{`rules[1]: rule "new_recipient" appears twice`}},
		{"rule without a name", rule(`{"points": 1}`), []string{`rules[0]: name: is required`}},
		{"enabled not a boolean", rule(`{"name": "new_recipient", "enabled": "yes"}`), []string{`enabled:`}},
		{"rules not a list", `{"rules": {"name": "new_recipient"}}`, []string{`rules: must be a list`}},
		{"params not an object", rule(`{"name": "velocity_count", "params": [10]}`), []string{`params: must be a JSON object`}},
		{"negative review score", `{"review_score": -1}`, []string{`review_score: must be between 0 and 1000000, not -1`}},
		{"review score too high", `{"review_score": 1000001}`, []string{`review_score: must be between 0 and 1000000`}},
		{"window zero", `{"window_minutes": 0}`, []string{`window_minutes: must be between 1 and 1440 minutes`}},
		{"window over a day", `{"window_minutes": 1441}`, []string{`window_minutes`}},
		{"lookback zero", `{"lookback_days": 0}`, []string{`lookback_days: must be between 1 and 730 days`}},
		{"every problem is named", `{"review_score": -1, "lookback_days": 0}`, []string{`review_score`, `lookback_days`}},
		{"trailing data", `{} {}`, []string{`trailing data`}},
		{"not an object", `[]`, []string{`must be a JSON object`}},
		{"null", `null`, []string{`must be a JSON object`}},
		{"empty", ``, []string{`must be a JSON object`}},
		{"too large", `{"x": "` + strings.Repeat("a", risk.MaxConfigBytes) + `"}`, []string{`larger than 65536 bytes`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := risk.Parse([]byte(tc.json))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !reflect.DeepEqual(c, risk.Config{}) {
				t.Errorf("a failed Parse returned a configuration: %+v", c)
			}
		})
	}
}

// TestValidateHandBuilt: a configuration built in Go is held to the same
// rules as a parsed one.
func TestValidateHandBuilt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*risk.Config)
		want string
	}{
		{"parameter of another rule", func(c *risk.Config) { c.Rules[1].Count = 3 }, "rules[1] (new_recipient): count: not a parameter of this rule"},
		{"time zone on another rule", func(c *risk.Config) { c.Rules[0].Location = time.UTC }, "timezone: not a parameter"},
		{"hours on another rule", func(c *risk.Config) { c.Rules[0].FromHour = 1 }, "from_hour, to_hour: not parameters"},
		{"within on another rule", func(c *risk.Config) { c.Rules[0].Within = time.Minute }, "within_minutes: not a parameter"},
		{"unknown rule", func(c *risk.Config) { c.Rules[0].Name = "x" }, `unknown rule "x"`},
		{"zero config", func(c *risk.Config) { *c = risk.Config{} }, "window_minutes"},
	} {
		c := risk.Default()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	raw, err := json.Marshal(risk.Default())
	if err != nil {
		t.Fatal(err)
	}
	c, err := risk.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if !reflect.DeepEqual(c, risk.Default()) {
		t.Fatalf("round trip of %s:\n%+v", raw, c)
	}
}

// docComment returns the package comment's lines (without "// ").
func docComment(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.Lines(string(src)) {
		if strings.HasPrefix(l, "package ") {
			break
		}
		l = strings.TrimSuffix(l, "\n")
		l = strings.TrimPrefix(strings.TrimPrefix(l, "//"), " ")
		lines = append(lines, l)
	}
	return lines
}

// section returns the indented (code block) lines of the doc section
// headed "# heading".
func section(t *testing.T, heading string) []string {
	t.Helper()
	var out []string
	in := false
	for _, l := range docComment(t) {
		if strings.HasPrefix(l, "# ") {
			in = l == "# "+heading
			continue
		}
		if in && strings.HasPrefix(l, "\t") {
			out = append(out, strings.TrimPrefix(l, "\t"))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no code block under %q in the package comment", heading)
	}
	return out
}

// TestDocumentedDefaultsAreTheDefaults reads the table of default rules in
// the package comment and compares it with Default.
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	t.Parallel()
	doc := risk.Config{}
	for _, l := range section(t, "Default rules") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || f[0] == "rule":
		case strings.HasPrefix(f[0], "review_score="):
			for _, kv := range f {
				k, v, _ := strings.Cut(kv, "=")
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%q: %v", kv, err)
				}
				switch k {
				case "review_score":
					doc.ReviewScore = n
				case "window_minutes":
					doc.Window = time.Duration(n) * time.Minute
				case "lookback_days":
					doc.Lookback = time.Duration(n) * 24 * time.Hour
				default:
					t.Fatalf("unknown setting %q in the table", k)
				}
			}
		default:
			points, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("%q: points: %v", l, err)
			}
			r := risk.RuleConfig{Name: f[0], Points: points, Enabled: true}
			for _, kv := range f[2:] {
				if kv == "-" {
					continue
				}
				k, v, _ := strings.Cut(kv, "=")
				if k == "timezone" {
					loc, err := time.LoadLocation(v)
					if err != nil {
						t.Fatal(err)
					}
					r.Location = loc
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%q: %v", kv, err)
				}
				switch k {
				case "percent_of_usual":
					r.PercentOfUsual = n
				case "min_history":
					r.MinHistory = n
				case "count":
					r.Count = n
				case "within_minutes":
					r.Within = time.Duration(n) * time.Minute
				case "from_hour":
					r.FromHour = n
				case "to_hour":
					r.ToHour = n
				default:
					t.Fatalf("unknown parameter %q in the table", k)
				}
			}
			doc.Rules = append(doc.Rules, r)
		}
	}
	if !reflect.DeepEqual(doc, risk.Default()) {
		t.Fatalf("the package comment documents\n%+v\nbut Default is\n%+v", doc, risk.Default())
	}
}

// TestDocumentedExampleIsTheDefault parses the example configuration of the
// package comment.
func TestDocumentedExampleIsTheDefault(t *testing.T) {
	t.Parallel()
	example := strings.Join(section(t, "Configuration format"), "\n")
	c, err := risk.Parse([]byte(example))
	if err != nil {
		t.Fatalf("the documented example does not parse: %v\n%s", err, example)
	}
	if !reflect.DeepEqual(c, risk.Default()) {
		t.Fatalf("the documented example is not the default:\n%+v", c)
	}
}

func TestQueryFromConfig(t *testing.T) {
	t.Parallel()
	c := risk.Default()
	c.Window, c.Lookback = 15*time.Minute, 30*24*time.Hour
	in := normal()
	q := c.Query(in, "ses_1")
	want := risk.Query{UserID: in.UserID, Currency: in.Currency, Recipient: in.Recipient, IP: in.IP,
		UserAgent: in.UserAgent, SessionID: "ses_1", Now: in.Now, Lookback: c.Lookback, Window: c.Window}
	if q != want {
		t.Fatalf("got %+v\nwant %+v", q, want)
	}
}
