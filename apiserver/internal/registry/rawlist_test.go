package registry

import (
	"encoding/json"
	"testing"
)

func TestSpliceResourceVersion(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		want     string
	}{
		{"the registry's shape", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"spec":{}}`, true, `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42","name":"p"},"spec":{}}`},
		{"empty metadata", `{"kind":"Pod","apiVersion":"v1","metadata":{}}`, true, `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42"}}`},
		{"another key order", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`, false, ""},
		{"no metadata", `{"kind":"Pod","apiVersion":"v1","spec":{}}`, false, ""},
		{"escaped kind", `{"kind":"P\"od","apiVersion":"v1","metadata":{"name":"p"}}`, false, ""},
		{"truncated", `{"kind":"Pod","apiVersion":"v1","metadata":{`, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got, ok := spliceResourceVersion(in, 42)
			if ok != tc.ok || (ok && string(got) != tc.want) {
				t.Fatalf("got %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
			if string(in) != tc.in {
				t.Fatalf("the input was modified: %q", in)
			}
			if ok && !json.Valid(got) {
				t.Fatalf("output is not JSON: %s", got)
			}
		})
	}
}
