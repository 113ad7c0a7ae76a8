package canon

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestObjectIsCanonical(t *testing.T) {
	a, err := Object(map[string]any{"b": 1, "a": "<x>", "n": json.Number("12345678901234567890")}, 100)
	if err != nil || string(a) != `{"a":"<x>","b":1,"n":12345678901234567890}` {
		t.Fatalf("Object = %s %v", a, err)
	}
	b, err := Object(json.RawMessage(`{ "n": 12345678901234567890, "b":1,"a":"<x>" }`), 100)
	if err != nil || string(b) != string(a) {
		t.Fatalf("the same object written otherwise: %s %v", b, err)
	}
	if o, err := Object(nil, 10); err != nil || string(o) != "{}" {
		t.Fatalf("nil: %s %v", o, err)
	}
	for _, bad := range []any{[]int{1}, "text", 3, json.RawMessage(`null`)} {
		if _, err := Object(bad, 100); err == nil {
			t.Errorf("%v accepted as an object", bad)
		}
	}
	if _, err := Object(map[string]string{"k": strings.Repeat("x", 100)}, 50); err == nil {
		t.Error("an object over the limit accepted")
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[string]bool{
		"auth.login_failed": true, "a.b.c": true, "transfer": false, "Auth.login": false,
		"auth..login": false, "auth.1login": false, "auth.login-failed": false, "": false,
	} {
		if got := DottedName(s, 64); got != want {
			t.Errorf("DottedName(%q) = %t", s, got)
		}
	}
	if DottedName("a.b", 2) {
		t.Error("length bound ignored")
	}
	for s, want := range map[string]bool{"transfer": true, "t2_x": true, "_x": false, "x-y": false, "": false} {
		if got := Word(s, 32); got != want {
			t.Errorf("Word(%q) = %t", s, got)
		}
	}
	for s, want := range map[string]bool{"Grüße, 東京": true, "a\nb": false, "a\x7fb": false, "a\u0085b": false, "\xff": false} {
		if got := Text(s, 64); got != want {
			t.Errorf("Text(%q) = %t", s, got)
		}
	}
	if got := Clip(strings.Repeat("x", 100)); len(got) != 80+len("…") {
		t.Errorf("Clip: %d bytes", len(got))
	}
}

func TestEncodedIsTakenAsItIs(t *testing.T) {
	for _, v := range []any{
		map[string]any{"b": 1, "a": "<x>", "c": nil},
		map[string]any{"nested": map[string]any{"z": 1.5, "y": []any{"\xff"}}},
		json.RawMessage(`{ "n": 12345678901234567890 }`),
		nil,
	} {
		want, err := Object(v, 100)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := Encode(v, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, max := range []int{100, len(want)} {
			if got, err := Object(enc, max); err != nil || string(got) != string(want) {
				t.Errorf("Object(Encode(%v)) with %d bytes allowed = %s %v, want %s", v, max, got, err, want)
			}
		}
		if v != nil {
			if _, err := Object(enc, len(want)-1); err == nil {
				t.Errorf("Encode(%v): %d bytes accepted under a limit of %d", v, len(want), len(want)-1)
			}
		}
	}
	if got, err := Object(Encoded{}, 2); err != nil || string(got) != "{}" {
		t.Errorf("the zero Encoded: %s %v", got, err)
	}
	if _, err := Encode([]int{1}, 100); err == nil {
		t.Error("Encode accepted a value that is not an object")
	}
	if _, err := Encode(map[string]string{"k": strings.Repeat("x", 100)}, 50); err == nil {
		t.Error("Encode accepted an object over its limit")
	}
}

func TestEncodedGivesEachRecordItsOwnBytes(t *testing.T) {
	enc, err := Encode(map[string]any{"a": "x"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := Object(enc, 100)
	first[0] = '!'
	if second, err := Object(enc, 100); err != nil || string(second) != `{"a":"x"}` {
		t.Fatalf("a change to one record's bytes reached the next: %s %v", second, err)
	}
}
