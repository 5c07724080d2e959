package printers

import (
	"fmt"
	"github.com/liggitt/tabwriter"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/ctl/internal/resource"
)

// NewTabWriter returns the column writer kubectl uses: minimum width 6, padding 3, widths remembered
// across flushes so a watch keeps its columns aligned.
func NewTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', tabwriter.RememberWidths)
}

// TableOptions decorate a server-side Table.
type TableOptions struct {
	// Wide shows priority > 0 columns (-o wide).
	Wide bool
	// NoHeaders drops the header line (--no-headers, and watch events after the first).
	NoHeaders bool
	// WithNamespace adds a NAMESPACE column first (-A).
	WithNamespace bool
	// Kind, when set, prefixes names: "deployment.apps/web" (several types at once).
	Kind string
	// ShowLabels adds a LABELS column (--show-labels).
	ShowLabels bool
	// LabelColumns adds one column per label key (-L).
	LabelColumns []string
}

// PrintTable writes a Table's rows to w (a tab writer the caller flushes). It prints nothing for a
// table with no rows, like kubectl.
func PrintTable(w io.Writer, t *resource.Table, o TableOptions) error {
	if len(t.Rows) == 0 {
		return nil
	}
	var cols []int
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || o.Wide {
			cols = append(cols, i)
		}
	}
	if !o.NoHeaders {
		var h []string
		if o.WithNamespace {
			h = append(h, "NAMESPACE")
		}
		for _, i := range cols {
			h = append(h, strings.ToUpper(t.ColumnDefinitions[i].Name))
		}
		for _, l := range o.LabelColumns {
			h = append(h, strings.ToUpper(labelColumnName(l)))
		}
		if o.ShowLabels {
			h = append(h, "LABELS")
		}
		if _, err := fmt.Fprintln(w, strings.Join(h, "\t")); err != nil {
			return err
		}
	}
	for _, row := range t.Rows {
		var cells []string
		if o.WithNamespace {
			cells = append(cells, row.Object.Metadata.Namespace)
		}
		for _, i := range cols {
			var cell any
			if i < len(row.Cells) {
				cell = row.Cells[i]
			}
			s := FormatCell(cell)
			if o.Kind != "" && t.ColumnDefinitions[i].Format == "name" {
				s = o.Kind + "/" + s
			}
			cells = append(cells, s)
		}
		for _, l := range o.LabelColumns {
			cells = append(cells, row.Object.Metadata.Labels[l])
		}
		if o.ShowLabels {
			cells = append(cells, FormatLabels(row.Object.Metadata.Labels))
		}
		if _, err := fmt.Fprintln(w, strings.Join(cells, "\t")); err != nil {
			return err
		}
	}
	return nil
}

func labelColumnName(key string) string {
	if i := strings.LastIndex(key, "/"); i >= 0 {
		return key[i+1:]
	}
	return key
}

// FormatCell renders one table cell: strings are cut at the first line break ("..." marks the cut),
// whole numbers print without a decimal point, nil prints empty.
func FormatCell(cell any) string {
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		if i := strings.IndexAny(v, "\f\n\r"); i >= 0 {
			return escape(v[:i]) + "..."
		}
		return escape(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return escape(fmt.Sprint(v))
	}
}

// escape keeps a cell from breaking the columns: tabs become spaces.
func escape(s string) string { return strings.ReplaceAll(s, "\t", " ") }

// FormatLabels prints labels as kubectl does: "a=b,c=d" sorted by key, "<none>" when empty.
func FormatLabels(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}
