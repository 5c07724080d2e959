package v1

import (
	"encoding/json"
	"math"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// TestQuantitySemantics pins the k8s.io/apimachinery quantity behaviour Skiff relies on for
// requests, limits, node capacity and the scheduler's arithmetic.
func TestQuantitySemantics(t *testing.T) {
	tests := []struct {
		in        string
		canonical string
		milli     int64
		value     int64
	}{
		{"500m", "500m", 500, 1},
		{"0.5", "500m", 500, 1},
		{"1", "1", 1000, 1},
		{"1000m", "1", 1000, 1},
		{"2.5", "2500m", 2500, 3},
		{"128Mi", "128Mi", 128 * 1024 * 1024 * 1000, 128 * 1024 * 1024},
		{"1.5Gi", "1536Mi", 1536 * 1024 * 1024 * 1000, 1536 * 1024 * 1024},
		{"1Gi", "1Gi", 1 << 30 * 1000, 1 << 30},
		{"1e3", "1e3", 1000 * 1000, 1000},
		{"1k", "1k", 1000 * 1000, 1000},
		{"1M", "1M", 1000 * 1000 * 1000, 1000 * 1000},
		{"100Ki", "100Ki", 100 * 1024 * 1000, 100 * 1024},
		{"0", "0", 0, 0},
		{"1m", "1m", 1, 1},
		{"0.1m", "100u", 1, 1}, // kept exactly; MilliValue and Value round up
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := resource.ParseQuantity(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.String(); got != tt.canonical {
				t.Errorf("String() = %q, want %q", got, tt.canonical)
			}
			if got := q.MilliValue(); got != tt.milli {
				t.Errorf("MilliValue() = %d, want %d", got, tt.milli)
			}
			if got := q.Value(); got != tt.value {
				t.Errorf("Value() = %d, want %d (rounded up)", got, tt.value)
			}
			b, err := json.Marshal(q)
			if err != nil || string(b) != `"`+tt.canonical+`"` {
				t.Errorf("JSON = %s, %v", b, err)
			}
		})
	}
	for _, bad := range []string{"", "abc", "1.5.5", "5Mb", "1 Gi", "--1"} {
		if _, err := resource.ParseQuantity(bad); err == nil {
			t.Errorf("ParseQuantity(%q) succeeded", bad)
		}
	}
}

func TestQuantityComparisons(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"500m", "0.5", 0},
		{"1Gi", "1024Mi", 0},
		{"1G", "1Gi", -1},
		{"128Mi", "100M", 1},
		{"2", "1999m", 1},
		{"1e3", "1k", 0},
	}
	for _, tt := range tests {
		a, b := resource.MustParse(tt.a), resource.MustParse(tt.b)
		if got := a.Cmp(b); got != tt.want {
			t.Errorf("%s cmp %s = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	sum := resource.MustParse("250m")
	sum.Add(resource.MustParse("1500m"))
	if sum.String() != "1750m" {
		t.Errorf("250m + 1500m = %s", sum.String())
	}
	mem := resource.MustParse("1Gi")
	mem.Sub(resource.MustParse("512Mi"))
	if mem.String() != "512Mi" {
		t.Errorf("1Gi - 512Mi = %s", mem.String())
	}
}

func TestResourceListAccessors(t *testing.T) {
	rl := ResourceList{ResourceCPU: resource.MustParse("2"), ResourceMemory: resource.MustParse("4Gi")}
	if rl.Cpu().MilliValue() != 2000 || rl.Memory().Value() != 4<<30 {
		t.Errorf("cpu %s memory %s", rl.Cpu(), rl.Memory())
	}
	if !rl.Pods().IsZero() || rl.Storage().Format != resource.BinarySI {
		t.Error("absent resources must be zero in their format")
	}
	c := rl.Cpu()
	c.Add(resource.MustParse("1"))
	if rl.Cpu().String() != "2" {
		t.Error("accessors must return copies")
	}
}

// FuzzParseQuantity checks that no input panics resource.ParseQuantity and that a parsed quantity's
// canonical String() parses back to an equal quantity with the same string.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"500m", "128Mi", "1.5Gi", "1e3", "0", "-1", "1E-3", "0.1m", "9223372036854775807", "1Ei", "+5k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return
		}
		if f := q.AsApproximateFloat64(); f > math.MaxInt64 || f < math.MinInt64 {
			// Known apimachinery quirk, left as Kubernetes has it: a plain decimal beyond the int64
			// range loses its exponent in String() ("1000000000000000000000" prints "1"). No
			// resource Skiff handles comes near this size; quantities written with an exponent
			// ("1e21") are unaffected.
			return
		}
		out := q.String()
		again, err := resource.ParseQuantity(out)
		if err != nil {
			t.Fatalf("ParseQuantity(%q) ok, String() = %q does not parse: %v", s, out, err)
		}
		if again.Cmp(q) != 0 {
			t.Fatalf("%q -> %q changed the value", s, out)
		}
		if again.String() != out {
			t.Fatalf("unstable: %q -> %q -> %q", s, out, again.String())
		}
	})
}
