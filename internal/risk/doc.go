// Package risk scores a cash transfer before it executes. A small rules
// engine adds the points of every rule that fires; a transfer whose score
// reaches the review threshold goes to review (under_review, its funds
// held) instead of executing, and compliance sees the score and one
// human-readable Reason per rule that fired. Rules, their weights and
// parameters, and the threshold are configuration (Parse), not code.
//
// Guarantees:
//   - Config.Assess is pure and deterministic: no I/O, no clock (the Input
//     carries Now), no randomness. The same Config and Input give the same
//     Assessment.
//   - Score is the sum of the Reasons' points; Review is Score >=
//     ReviewScore. Reasons come in the order of Config.Rules, one per rule
//     that fired; a disabled rule never fires.
//   - Integer arithmetic only: amounts are int64 minor units, "above usual"
//     is a percentage compared exactly in 128 bits, never a float.
//   - LoadHistory reads a fixed number of rows at most (MaxScanned
//     transfers, MaxSessions+1 sessions, one user row) through indexes, in
//     one statement (one snapshot, one round trip), so a customer with a
//     million transfers costs what one with fifty does.
//   - A Scorer with a Cache reads a busy customer's history about once per
//     TTL and otherwise answers from memory, exactly as a fresh read would
//     except for what other processes changed within the TTL (see Cache).
//   - Parse is strict: unknown keys, unknown rules, a rule listed twice,
//     negative points, out-of-range parameters, an unknown time zone and
//     trailing data are errors that name what is wrong. Go's zone database
//     is embedded (time/tzdata), so time zones load on any host.
//
// The caller, for each cash transfer: build an Input without History,
// History from LoadHistory(ctx, db, cfg.Query(in, sessionID)), then
// cfg.Assess(in); or let a Scorer do all three.
//
// # Default rules
//
// Default returns these rules in this order; Parse fills in the same values
// for whatever a configuration leaves out. A single signal stays well below
// the review score; new device + new recipient + an amount far above usual
// (25 + 15 + 35 = 75) reaches it, as does a credential change with a new
// device and a new recipient (40 + 25 + 15 = 80).
//
//	rule                     points  parameters
//	amount_above_usual           35  percent_of_usual=1000 min_history=3
//	new_recipient                15  -
//	velocity_count               35  count=10
//	many_recipients              30  count=5
//	after_login                  10  within_minutes=2
//	after_credential_change      40  within_minutes=1440
//	unusual_hour                 10  from_hour=0 to_hour=5 timezone=UTC
//	new_ip_device                25  -
//
//	review_score=70 window_minutes=10 lookback_days=90
//
// When each rule fires (boundaries included):
//   - amount_above_usual: amount >= percent_of_usual % of History.UsualAmount
//     (1000 is 10×), once History.Transfers >= min_history. UsualAmount is
//     the median of the last UsualSample executed cash transfers in the
//     currency within lookback_days.
//   - new_recipient: the customer never sent (an executed transfer) to the
//     destination account and does not own it.
//   - velocity_count: at least count earlier outgoing transfers, of any
//     status, in the last window_minutes.
//   - many_recipients: those transfers went to at least count distinct
//     accounts not the customer's own.
//   - after_login: the last sign-in is at most within_minutes before the
//     transfer.
//   - after_credential_change: the last password or 2FA change is at most
//     within_minutes before the transfer (the password set at registration
//     is not a change).
//   - unusual_hour: the hour of the transfer in timezone (an IANA name) is
//     in [from_hour, to_hour); from_hour > to_hour wraps past midnight
//     (22 and 5 mean 22:00–04:59).
//   - new_ip_device: the IP address or the user agent was not seen in the
//     customer's earlier sessions (the current session excluded).
//
// # Configuration format
//
// JSON, every key optional: omitted settings take the defaults above and
// an omitted "enabled" is true. Without "rules" the default rules run; a
// "rules" list replaces them, runs in its order, and may name each rule
// once ("rules": [] disables scoring). A rule's "params" takes only that
// rule's parameters. This is the default configuration, spelled out:
//
//	{
//	  "review_score": 70,
//	  "window_minutes": 10,
//	  "lookback_days": 90,
//	  "rules": [
//	    {"name": "amount_above_usual", "points": 35, "params": {"percent_of_usual": 1000, "min_history": 3}},
//	    {"name": "new_recipient", "points": 15},
//	    {"name": "velocity_count", "points": 35, "params": {"count": 10}},
//	    {"name": "many_recipients", "points": 30, "params": {"count": 5}},
//	    {"name": "after_login", "points": 10, "params": {"within_minutes": 2}},
//	    {"name": "after_credential_change", "points": 40, "params": {"within_minutes": 1440}},
//	    {"name": "unusual_hour", "points": 10, "params": {"from_hour": 0, "to_hour": 5, "timezone": "UTC"}},
//	    {"name": "new_ip_device", "points": 25, "enabled": true}
//	  ]
//	}
//
// Limits: MaxConfigBytes of JSON; points 0..MaxPoints (0 records a reason
// without weight, to watch a rule before trusting it); review_score
// 0..MaxReviewScore (0 sends every transfer to review); window_minutes up
// to a day; lookback_days up to two years; within_minutes up to 30 days.
package risk
