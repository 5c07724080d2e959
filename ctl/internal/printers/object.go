package printers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/ctl/internal/resource"
)

// ObjectPrinter prints whole objects (every -o format except the table ones).
type ObjectPrinter interface {
	// Print writes objects; asList says the user asked for a collection (or several objects), which
	// JSON, YAML and JSONPath wrap in a kind List like kubectl.
	Print(w io.Writer, objs []resource.Object, asList bool) error
}

// Format is a parsed -o value.
type Format struct {
	// Name is "", "wide", "json", "yaml", "name", "jsonpath", "custom-columns".
	Name string
	// Arg is the template of jsonpath=... and custom-columns=...
	Arg string
}

// ParseFormat parses -o. The empty string and "wide" are table formats.
func ParseFormat(s string) (Format, error) {
	name, arg, _ := strings.Cut(s, "=")
	switch name {
	case "", "wide", "json", "yaml", "name":
		if arg != "" {
			return Format{}, fmt.Errorf("output format %q takes no argument", name)
		}
		return Format{Name: name}, nil
	case "jsonpath", "custom-columns":
		if arg == "" {
			return Format{}, fmt.Errorf("%s format specified but no template given", name)
		}
		return Format{Name: name, Arg: arg}, nil
	}
	return Format{}, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,json,jsonpath,name,wide,yaml", s)
}

// IsTable reports whether the format is printed from server-side Tables.
func (f Format) IsTable() bool { return f.Name == "" || f.Name == "wide" }

// Printer builds the object printer of a non-table format.
func (f Format) Printer(noHeaders bool) (ObjectPrinter, error) {
	switch f.Name {
	case "json":
		return JSONPrinter{}, nil
	case "yaml":
		return YAMLPrinter{}, nil
	case "name":
		return NamePrinter{}, nil
	case "jsonpath":
		return NewJSONPathPrinter(f.Arg)
	case "custom-columns":
		return NewCustomColumnsPrinter(f.Arg, noHeaders)
	}
	return nil, fmt.Errorf("output format %q is printed as a table", f.Name)
}

func asDocument(objs []resource.Object, asList bool) any {
	if !asList && len(objs) == 1 {
		return map[string]any(objs[0])
	}
	items := make([]any, len(objs))
	for i, o := range objs {
		items[i] = map[string]any(o)
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      items,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
}

// JSONPrinter prints indented JSON (4 spaces, like kubectl).
type JSONPrinter struct{}

// Print implements ObjectPrinter.
func (JSONPrinter) Print(w io.Writer, objs []resource.Object, asList bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(asDocument(objs, asList)); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// YAMLPrinter prints YAML; several objects of a watch are separated by "---".
type YAMLPrinter struct{}

// Print implements ObjectPrinter.
func (YAMLPrinter) Print(w io.Writer, objs []resource.Object, asList bool) error {
	b, err := yaml.Marshal(asDocument(objs, asList))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// NamePrinter prints "type/name" per object.
type NamePrinter struct{}

// Print implements ObjectPrinter.
func (NamePrinter) Print(w io.Writer, objs []resource.Object, _ bool) error {
	for _, o := range objs {
		r, err := o.Resource()
		if err != nil {
			fmt.Fprintf(w, "%s/%s\n", strings.ToLower(o.Kind()), o.Name())
			continue
		}
		if _, err := fmt.Fprintf(w, "%s/%s\n", resource.TypeName(r), o.Name()); err != nil {
			return err
		}
	}
	return nil
}

// JSONPathPrinter executes a kubectl JSONPath template ("{.items[*].metadata.name}").
type JSONPathPrinter struct {
	jp *jsonpath.JSONPath
}

// NewJSONPathPrinter parses the template. Missing keys print nothing, as with kubectl's default
// --allow-missing-template-keys=true.
func NewJSONPathPrinter(tmpl string) (*JSONPathPrinter, error) {
	jp := jsonpath.New("out").AllowMissingKeys(true)
	if err := jp.Parse(tmpl); err != nil {
		return nil, fmt.Errorf("error parsing jsonpath %s, %w", tmpl, err)
	}
	return &JSONPathPrinter{jp: jp}, nil
}

// Print implements ObjectPrinter.
func (p *JSONPathPrinter) Print(w io.Writer, objs []resource.Object, asList bool) error {
	doc, err := plain(asDocument(objs, asList))
	if err != nil {
		return err
	}
	if err := p.jp.Execute(w, doc); err != nil {
		return fmt.Errorf("error executing jsonpath: %w", err)
	}
	return nil
}

// plain round-trips through JSON so the template sees only maps, slices and scalars.
func plain(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// CustomColumnsPrinter prints "HEADER:.json.path,..." columns.
type CustomColumnsPrinter struct {
	headers   []string
	paths     []*jsonpath.JSONPath
	noHeaders bool
}

// NewCustomColumnsPrinter parses a custom-columns spec.
func NewCustomColumnsPrinter(spec string, noHeaders bool) (*CustomColumnsPrinter, error) {
	p := &CustomColumnsPrinter{noHeaders: noHeaders}
	for _, part := range strings.Split(spec, ",") {
		h, expr, ok := strings.Cut(part, ":")
		if !ok || h == "" || expr == "" {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		jp := jsonpath.New(h).AllowMissingKeys(true)
		if err := jp.Parse(relaxed(expr)); err != nil {
			return nil, fmt.Errorf("error parsing custom-columns expression %q: %w", expr, err)
		}
		p.headers = append(p.headers, h)
		p.paths = append(p.paths, jp)
	}
	return p, nil
}

// relaxed turns ".a.b", "a.b" or "{.a.b}" into "{.a.b}", as kubectl does.
func relaxed(expr string) string {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "{") && strings.HasSuffix(expr, "}") {
		expr = expr[1 : len(expr)-1]
	}
	if !strings.HasPrefix(expr, ".") {
		expr = "." + expr
	}
	return "{" + expr + "}"
}

// Print implements ObjectPrinter.
func (p *CustomColumnsPrinter) Print(w io.Writer, objs []resource.Object, _ bool) error {
	tw := NewTabWriter(w)
	if !p.noHeaders {
		fmt.Fprintln(tw, strings.Join(p.headers, "\t"))
	}
	for _, o := range objs {
		doc, err := plain(map[string]any(o))
		if err != nil {
			return err
		}
		cells := make([]string, len(p.paths))
		for i, jp := range p.paths {
			results, err := jp.FindResults(doc)
			if err != nil {
				return fmt.Errorf("error executing custom-columns expression for %s: %w", p.headers[i], err)
			}
			var vals []string
			for _, set := range results {
				for _, v := range set {
					vals = append(vals, fmt.Sprint(printable(v.Interface())))
				}
			}
			if len(vals) == 0 {
				cells[i] = "<none>"
			} else {
				cells[i] = strings.Join(vals, ",")
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func printable(v any) any {
	switch x := v.(type) {
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	case float64:
		return FormatCell(x)
	}
	return v
}
