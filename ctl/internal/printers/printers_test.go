package printers

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/ctl/internal/resource"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run go test -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

func loadTable(t *testing.T) *resource.Table {
	t.Helper()
	b, err := os.ReadFile("testdata/pods-table.json")
	if err != nil {
		t.Fatal(err)
	}
	var tb resource.Table
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatal(err)
	}
	return &tb
}

func loadObjects(t *testing.T) []resource.Object {
	t.Helper()
	b, err := os.ReadFile("testdata/objects.json")
	if err != nil {
		t.Fatal(err)
	}
	var objs []resource.Object
	if err := json.Unmarshal(b, &objs); err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestTableFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TableOptions
	}{
		{"table-default", TableOptions{}},
		{"table-wide", TableOptions{Wide: true}},
		{"table-all-namespaces", TableOptions{WithNamespace: true}},
		{"table-with-kind", TableOptions{Kind: "pod"}},
		{"table-show-labels", TableOptions{ShowLabels: true}},
		{"table-label-columns", TableOptions{LabelColumns: []string{"app", "example.com/tier"}}},
		{"table-no-headers", TableOptions{NoHeaders: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := NewTabWriter(&buf)
			if err := PrintTable(tw, loadTable(t), tc.opts); err != nil {
				t.Fatal(err)
			}
			tw.Flush()
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestEmptyTablePrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	tb := loadTable(t)
	tb.Rows = nil
	if err := PrintTable(&buf, tb, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("an empty table printed %q; kubectl prints nothing (the caller says 'No resources found')", buf.String())
	}
}

func TestObjectFormats(t *testing.T) {
	objs := loadObjects(t)
	for _, tc := range []struct {
		name   string
		output string
		objs   []resource.Object
		asList bool
	}{
		{"json-single", "json", objs[:1], false},
		{"json-list", "json", objs, true},
		{"yaml-single", "yaml", objs[:1], false},
		{"yaml-list", "yaml", objs, true},
		{"name", "name", objs, true},
		{"jsonpath-field", "jsonpath={.spec.replicas}", objs[:1], false},
		{"jsonpath-range", `jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\n"}{end}`, objs, true},
		{"jsonpath-filter", `jsonpath={.status.conditions[?(@.type=="Available")].status}`, objs[:1], false},
		{"jsonpath-missing-key", "jsonpath={.metadata.nothing}", objs[:1], false},
		{"custom-columns", "custom-columns=NAME:.metadata.name,KIND:kind,IMAGES:.spec.template.spec.containers[*].image,MISSING:.status.nope", objs, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFormat(tc.output)
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.Printer(false)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.Print(&buf, tc.objs, tc.asList); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestParseFormatErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"xml", `unable to match a printer suitable for the output format "xml", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml`},
		{"jsonpath", "jsonpath format specified but no template given"},
		{"json=x", `output format "json" takes no argument`},
	} {
		_, err := ParseFormat(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseFormat(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := NewJSONPathPrinter("{.a"); err == nil {
		t.Error("an unclosed jsonpath template was accepted")
	}
	if _, err := NewCustomColumnsPrinter("NAME", false); err == nil {
		t.Error("a custom-columns spec without a path was accepted")
	}
}

func TestFormatCell(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"a\tb", "a b"},
		{"x\ny", "x..."},
		{float64(3), "3"},
		{float64(1500000), "1500000"},
		{1.5, "1.5"},
		{true, "true"},
	} {
		if got := FormatCell(tc.in); got != tc.want {
			t.Errorf("FormatCell(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
