package cmd

import (
	"reflect"
	"testing"
)

func TestParsePairs(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		want   map[string]string
		wantOK bool
	}{
		{"one pair", "app=web", map[string]string{"app": "web"}, true},
		{"several pairs, empty value kept", "app=web,tier=", map[string]string{"app": "web", "tier": ""}, true},
		{"value may hold '='", "k=a=b", map[string]string{"k": "a=b"}, true},
		{"element without '=' is rejected", "app=web,tier", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parsePairs(tt.spec)
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsePairs(%q) = %v, %v; want %v, %v", tt.spec, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
