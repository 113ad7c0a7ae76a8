package password

import (
	"slices"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/fault"
)

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	ctx := []string{"alice.wonder@fintrade.com", "Alice Wonderland"}
	tests := []struct {
		name     string
		policy   Policy
		password string
		context  []string
		reason   string // "" means accepted
	}{
		{"good passphrase", DefaultPolicy(), "correct horse battery staple", ctx, ""},
		{"good short", DefaultPolicy(), "Tr0ub4d&r", ctx, ""},
		{"exactly 8", DefaultPolicy(), "vq7#kLm2", nil, ""},
		{"7 characters", DefaultPolicy(), "vq7#kLm", nil, ReasonTooShort},
		{"empty", DefaultPolicy(), "", nil, ReasonTooShort},
		{"8 bytes but 4 characters", DefaultPolicy(), "ÿÿéé", nil, ReasonTooShort},
		{"8 characters of 2 bytes", DefaultPolicy(), "ÿéàüöäßç", nil, ""},
		{"128 characters", DefaultPolicy(), strings.Repeat("xq7#kLm2", 16), nil, ""},
		{"129 characters", DefaultPolicy(), strings.Repeat("xq7#kLm2", 16) + "z", nil, ReasonTooLong},
		{"128 four-byte characters", DefaultPolicy(), emoji(128), nil, ""},
		{"129 four-byte characters", DefaultPolicy(), emoji(129), nil, ReasonTooLong},
		{"over the byte limit", Policy{MinLen: 8}, strings.Repeat("xq7#kLm2é", 500), nil, ReasonTooLong},
		{"no maximum", Policy{MinLen: 8}, strings.Repeat("xq7#kLm2", 100), nil, ""},
		{"invalid utf-8", DefaultPolicy(), "abc\xffdefgh", nil, ReasonEncoding},
		{"one character repeated", DefaultPolicy(), "aaaaaaaaaaaa", nil, ReasonRepetitive},
		{"spaces only", DefaultPolicy(), "         ", nil, ReasonRepetitive},
		{"digit repeated", DefaultPolicy(), "77777777", nil, ReasonRepetitive},
		{"pair repeated", DefaultPolicy(), "xqxqxqxqxq", nil, ReasonRepetitive},
		{"four repeated", DefaultPolicy(), "zk9!zk9!", nil, ReasonRepetitive},
		{"four repeated, mixed case", DefaultPolicy(), "zK9!Zk9!", nil, ReasonRepetitive},
		{"five repeated is allowed", DefaultPolicy(), "zk9!qzk9!q", nil, ""},
		{"digits ascending", DefaultPolicy(), "12345678", nil, ReasonSequential},
		{"digits descending", DefaultPolicy(), "876543210", nil, ReasonSequential},
		{"letters ascending", DefaultPolicy(), "abcdefgh", nil, ReasonSequential},
		{"letters ascending upper", DefaultPolicy(), "MNOPQRSTU", nil, ReasonSequential},
		{"letters descending", DefaultPolicy(), "zyxwvutsr", nil, ReasonSequential},
		{"common password", DefaultPolicy(), "password", nil, ReasonCommon},
		{"common upper case", DefaultPolicy(), "PASSWORD1", nil, ReasonCommon},
		{"common mixed case", DefaultPolicy(), "Iloveyou1", nil, ReasonCommon},
		{"common keyboard walk", DefaultPolicy(), "qwertyuiop", nil, ReasonCommon},
		{"common leet", DefaultPolicy(), "P@ssw0rd", nil, ReasonCommon},
		{"common trustno1", DefaultPolicy(), "trustno1", nil, ReasonCommon},
		{"common baseball", DefaultPolicy(), "baseball", nil, ReasonCommon},
		{"contains email local part word", DefaultPolicy(), "xx-wonder-99", ctx, ReasonPersonal},
		{"contains email local part", DefaultPolicy(), "Alice.Wonder2024", ctx, ReasonPersonal},
		{"equals email local part", DefaultPolicy(), "Quixotely9", []string{"quixotely9@example.org"}, ReasonPersonal},
		{"contains first name upper case", DefaultPolicy(), "MY-ALICE-kq7#", ctx, ReasonPersonal},
		{"contains email domain word", DefaultPolicy(), "go fintrade go", ctx, ReasonPersonal},
		{"short context words ignored", DefaultPolicy(), "bob-and-al-kq7#", []string{"bob@x.io", "Al Bo"}, ""},
		{"empty context ignored", DefaultPolicy(), "kq7#vLm2p", []string{"", "   "}, ""},
		{"unicode context", DefaultPolicy(), "ÉLODIE-kq7#x", []string{"Élodie Brûlé"}, ReasonPersonal},
		{"unrelated to context", DefaultPolicy(), "kq7#vLm2p", ctx, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Check(tt.password, tt.context...)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Code != CodeWeak {
				t.Fatalf("Check = %v, want *fault.Error with code %s", err, CodeWeak)
			}
			if len(fe.Fields) != 1 || fe.Fields[0].Field != "password" || fe.Fields[0].Code != tt.reason || fe.Fields[0].Message == "" {
				t.Fatalf("Check fields = %+v, want one on password with code %s", fe.Fields, tt.reason)
			}
			// ("password" itself is the one word the messages do contain.)
			if tt.password != "" && tt.password != "password" && (strings.Contains(fe.Error()+fe.Fields[0].Message, tt.password) || strings.Contains(strings.ToLower(fe.Error()+fe.Fields[0].Message), "wonder")) {
				t.Fatalf("error %q repeats the password or a context word", fe.Error())
			}
		})
	}
}

// emoji returns n four-byte characters that neither repeat nor run in sequence.
func emoji(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteRune(rune(0x1F600 + i*7%50))
	}
	return b.String()
}

func TestCommonList(t *testing.T) {
	t.Parallel()
	list := commonList()
	if len(list) < 10000 {
		t.Fatalf("common password list has %d entries, want at least 10000", len(list))
	}
	if !slices.IsSorted(list) {
		t.Fatal("common password list is not sorted; binary search would miss entries")
	}
	for i, w := range list {
		if w == "" || w != strings.ToLower(w) || strings.TrimSpace(w) != w {
			t.Fatalf("entry %d %q is empty, not lower case or padded", i, w)
		}
		if i > 0 && list[i-1] == w {
			t.Fatalf("entry %q is duplicated", w)
		}
	}
	for _, w := range []string{"123456", "password", "qwerty", "dragon", "letmein", "zaq12wsx", "1q2w3e4r", "iloveyou"} {
		if !isCommon(w) {
			t.Errorf("isCommon(%q) = false", w)
		}
	}
	// The first and last entries must be found: an off-by-one in the split
	// or the search would lose them.
	for _, w := range []string{list[0], list[len(list)-1]} {
		if !isCommon(w) {
			t.Errorf("isCommon(%q) = false for a boundary entry", w)
		}
	}
}
