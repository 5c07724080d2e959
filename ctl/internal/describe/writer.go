package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/liggitt/tabwriter"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// prefixWriter writes "Key:\tvalue" lines indented by level into a tab writer, as kubectl does.
type prefixWriter struct {
	tw *tabwriter.Writer
}

func newWriter(out io.Writer) *prefixWriter {
	return &prefixWriter{tw: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)}
}

func (w *prefixWriter) line(level int, format string, a ...any) {
	fmt.Fprintf(w.tw, strings.Repeat("  ", level)+format+"\n", a...)
}

func (w *prefixWriter) flush() error { return w.tw.Flush() }

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// writeMap prints labels or annotations: first on the key line, the rest aligned below.
func (w *prefixWriter) writeMap(level int, title string, m map[string]string) {
	if len(m) == 0 {
		w.line(level, "%s:\t<none>", title)
		return
	}
	for i, k := range sortedKeys(m) {
		v := m[k]
		if len(v) > 200 {
			v = v[:200] + "..."
		}
		if i == 0 {
			w.line(level, "%s:\t%s=%s", title, k, v)
		} else {
			w.line(level, "\t%s=%s", k, v)
		}
	}
}

// writeList prints one value per line: the first on the title line, the rest aligned below, or
// "<none>" when there are none.
func (w *prefixWriter) writeList(level int, title string, items []string) {
	if len(items) == 0 {
		w.line(level, "%s:\t<none>", title)
		return
	}
	for i, it := range items {
		if i == 0 {
			w.line(level, "%s:\t%s", title, it)
		} else {
			w.line(level, "\t%s", it)
		}
	}
}

// writeResources prints a resource list under its title, one quantity per resource name in name order.
func (w *prefixWriter) writeResources(level int, title string, l corev1.ResourceList) {
	w.line(level, "%s:", title)
	for _, k := range sortedKeys(l) {
		q := l[corev1.ResourceName(k)]
		w.line(level+1, "%s:\t%s", k, q.String())
	}
}

// sortedKeys returns a map's keys in order, so output does not depend on map iteration.
func sortedKeys[K ~string, V any](m map[K]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}

func (w *prefixWriter) meta(m *metav1.ObjectMeta, namespaced bool) {
	w.line(0, "Name:\t%s", m.Name)
	if namespaced {
		w.line(0, "Namespace:\t%s", m.Namespace)
	}
}

func formatTime(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.Time.Format(time.RFC1123Z)
}

// Age prints a duration as kubectl's human-readable ages do: 45s, 5m10s, 3h, 2d4h.
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 600:
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 3*3600:
		m := s / 60
		if m%60 == 0 || s >= 3*3600 {
			return fmt.Sprintf("%dh", m/60)
		}
		if m < 180 && m >= 60 {
			return fmt.Sprintf("%dh%dm", m/60, m%60)
		}
		return fmt.Sprintf("%dm", m)
	case s < 8*3600:
		h, m := s/3600, (s%3600)/60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	case s < 48*3600:
		return fmt.Sprintf("%dh", s/3600)
	case s < 8*24*3600:
		h := (s / 3600) % 24
		if h == 0 {
			return fmt.Sprintf("%dd", s/86400)
		}
		return fmt.Sprintf("%dd%dh", s/86400, h)
	case s < 365*24*3600:
		return fmt.Sprintf("%dd", s/86400)
	}
	return fmt.Sprintf("%dy", s/(365*86400))
}
