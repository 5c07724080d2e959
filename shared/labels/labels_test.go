package labels

import (
	"strings"
	"testing"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func TestParseAndMatch(t *testing.T) {
	web := Set{"app": "web", "env": "dev", "tier": "a"}
	tests := []struct {
		name     string
		selector string
		labels   Set
		want     bool
	}{
		{"equality matches", "app=web", web, true},
		{"double equals is equality", "app==web", web, true},
		{"inequality matches a different value", "env!=prod", web, true},
		{"inequality matches a missing key", "missing!=x", web, true},
		{"in matches one of the values", "tier in (a,b)", web, true},
		{"in fails on a missing key", "zone in (a)", web, false},
		{"notin matches a missing key", "zone notin (a)", web, true},
		{"notin fails on a listed value", "tier notin (a,b)", web, false},
		{"exists", "app", web, true},
		{"exists fails on a missing key", "canary", web, false},
		{"does not exist", "!canary", web, true},
		{"does not exist fails when present", "!app", web, false},
		{"comma is AND, all hold", "app=web,env!=prod,tier in (a,b),!canary", web, true},
		{"comma is AND, one fails", "app=web,env=prod", web, false},
		{"empty selects everything", "", web, true},
		{"empty selects an empty set", "", Set{}, true},
		{"whitespace is ignored", " app = web , tier in ( a , b ) ", web, true},
		{"empty value", "app=", Set{"app": ""}, true},
		{"prefixed key", "kubernetes.io/hostname=n1", Set{"kubernetes.io/hostname": "n1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.selector)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.selector, err)
			}
			if got := sel.Matches(tt.labels); got != tt.want {
				t.Errorf("%q matches %v = %v, want %v", tt.selector, tt.labels, got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"app=web=x",                      // two operators
		"tier in (a",                     // unclosed set
		"tier in a",                      // set without parentheses
		"=web",                           // no key
		"app=we b",                       // space in value
		"-app=web",                       // key must start alphanumeric
		"app=" + strings.Repeat("v", 64), // value over 63 characters
		"a/b/c=x",                        // two slashes
		"app notin",                      // set operator without values
		"!app=web",                       // ! only with a bare key
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", s)
		}
	}
}

func TestStringIsCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"app==web", "app==web"},
		{"tier in (b,a),app=web", "app=web,tier in (a,b)"},
		{"!canary", "!canary"},
		{"k", "k"},
		{"env!=prod", "env!=prod"},
		{"x notin (z,y)", "x notin (y,z)"},
	}
	for _, tt := range tests {
		sel, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromLabelSelector(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name    string
		sel     *metav1.LabelSelector
		want    bool
		wantErr bool
	}{
		{"nil selects nothing", nil, false, false},
		{"empty selects everything", &metav1.LabelSelector{}, true, false},
		{"matchLabels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, true, false},
		{"matchLabels mismatch", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, false, false},
		{"In", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}}}}, true, false},
		{"NotIn", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"front"}}}}, false, false},
		{"Exists", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}, true, false},
		{"DoesNotExist", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "canary", Operator: metav1.LabelSelectorOpDoesNotExist}}}, true, false},
		{"matchLabels and expressions are ANDed", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"back"}}}}, false, false},
		{"invalid operator is an error", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Equals"}}}, false, true},
		{"In without values is an error", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn}}}, false, true},
		{"Exists with values is an error", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}}}, false, true},
		{"invalid key is an error", &metav1.LabelSelector{MatchLabels: map[string]string{"-bad": "x"}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := FromLabelSelector(tt.sel)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if Matches(tt.sel, web) {
					t.Error("Matches with an invalid selector returned true")
				}
				return
			}
			if got := sel.Matches(Set(web)); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
			if got := Matches(tt.sel, web); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseToLabelSelectorRoundTrip(t *testing.T) {
	ls, err := ParseToLabelSelector("app=web,tier in (a,b),!canary")
	if err != nil {
		t.Fatal(err)
	}
	if ls.MatchLabels["app"] != "web" || len(ls.MatchExpressions) != 2 {
		t.Fatalf("ParseToLabelSelector = %+v", ls)
	}
	sel, err := FromLabelSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	if got := sel.String(); got != "app=web,!canary,tier in (a,b)" {
		t.Errorf("round trip = %q", got)
	}
	if got := FormatLabelSelector(nil); got != "<none>" {
		t.Errorf("FormatLabelSelector(nil) = %q", got)
	}
	if got := FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}); got != "app=web" {
		t.Errorf("FormatLabelSelector = %q", got)
	}
}

// FuzzParseSelector checks that no input panics the parser and that a parsed selector's String()
// parses back to the same selector.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "app=web", "app==web,env!=prod", "tier in (a,b)", "tier notin (a)", "!canary", "k",
		"kubernetes.io/hostname=n1", "a in (),b", "x=,y!=", " a = b ", "a,b,!c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		out := sel.String()
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, String() = %q does not parse: %v", s, out, err)
		}
		if again.String() != out {
			t.Fatalf("unstable: %q -> %q -> %q", s, out, again.String())
		}
	})
}
