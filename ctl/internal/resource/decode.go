package resource

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Source is one decoded object and where it came from (for messages).
type Source struct {
	Object Object
	// File is the file name, "STDIN" for "-".
	File string
}

// Decode splits a stream of YAML or JSON documents ("---" separated) into objects. A kind List is
// expanded into its items; empty documents are skipped.
func Decode(r io.Reader, file string) ([]Source, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var out []Source
	for i, doc := range splitDocuments(data) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s (document %d): %w", file, i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var obj Object
		if err := json.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("error parsing %s (document %d): not an object: %w", file, i+1, err)
		}
		if obj.Kind() == "List" || strings.HasSuffix(obj.Kind(), "List") && obj["items"] != nil {
			items, _ := obj["items"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, Source{Object: Object(m), File: file})
				}
			}
			continue
		}
		if obj.Kind() == "" {
			return nil, fmt.Errorf("error validating %s: object 'Kind' is missing in '%s'", file, strings.TrimSpace(string(doc)))
		}
		if obj.APIVersion() == "" {
			return nil, fmt.Errorf("error validating %s: object 'apiVersion' is missing for kind %s", file, obj.Kind())
		}
		out = append(out, Source{Object: obj, File: file})
	}
	return out, nil
}

// splitDocuments splits YAML on lines that are exactly "---" (optionally followed by a comment).
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimRight(line, " \t\r")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "---#") {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, cur.Bytes())
	return docs
}

// manifestExt reports whether a file in a folder is read as a manifest.
func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ErrNoObjects is returned when the files held no object.
var ErrNoObjects = errors.New("no objects passed")

// ErrNoFiles is returned when no -f was given to a command that needs it.
var ErrNoFiles = errors.New("must specify one of -f and -k")

// ReadFiles reads every -f argument: files, folders (their .yaml, .yml and .json files; recursively
// with recursive) and "-" for stdin.
func ReadFiles(filenames []string, recursive bool, stdin io.Reader) ([]Source, error) {
	if len(filenames) == 0 {
		return nil, ErrNoFiles
	}
	var out []Source
	for _, f := range filenames {
		if f == "-" {
			srcs, err := Decode(stdin, "STDIN")
			if err != nil {
				return nil, err
			}
			out = append(out, srcs...)
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("the path %q does not exist", f)
			}
			return nil, err
		}
		if !st.IsDir() {
			srcs, err := decodeFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, srcs...)
			continue
		}
		err = filepath.WalkDir(f, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != f && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if !manifestExt(p) {
				return nil
			}
			srcs, err := decodeFile(p)
			if err != nil {
				return err
			}
			out = append(out, srcs...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, ErrNoObjects
	}
	return out, nil
}

func decodeFile(p string) ([]Source, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Decode(fh, p)
}
