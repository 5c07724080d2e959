package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/protobuf"
)

// MaxBodyBytes is the largest request body accepted (Kubernetes's MaxRequestBodyBytes: twice etcd's
// 1.5 MiB request limit).
const MaxBodyBytes = 3 << 20

// maxNestingDepth bounds how deeply a JSON body may nest; real objects stay far below it and the bound
// keeps recursive decoders and patchers cheap.
const maxNestingDepth = 1000

// Media types the server decodes and encodes.
const (
	mediaJSON           = "application/json"
	mediaYAML           = "application/yaml"
	mediaMergePatch     = "application/merge-patch+json"
	mediaStrategicPatch = "application/strategic-merge-patch+json"
	mediaJSONPatch      = "application/json-patch+json"
	mediaApplyPatch     = "application/apply-patch+yaml"
	mediaProtobuf       = "application/vnd.kubernetes.protobuf"
)

// readBody reads the whole request body up to MaxBodyBytes (413 beyond).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLarge(MaxBodyBytes)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierrors.NewRequestEntityTooLarge(MaxBodyBytes)
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(data) > MaxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLarge(MaxBodyBytes)
	}
	return data, nil
}

// mediaType is the media type of the request body; a missing Content-Type means JSON (kubectl scale
// --current-replicas sends none).
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	return mt
}

// bodyJSON reads the body of a create or update and returns it as JSON: JSON is checked, YAML is
// converted, Kubernetes protobuf is converted to JSON, anything else gets 415.
func bodyJSON(r *http.Request) ([]byte, error) {
	mt := mediaType(r)
	switch mt {
	case mediaJSON, "text/json", "*/*":
	case mediaYAML, "text/yaml", "application/x-yaml":
	case mediaProtobuf:
		// client-go typed clientsets (kubectl create deployment, kubectl run, evictions) send protobuf.
		data, err := readBody(r)
		if err != nil {
			return nil, err
		}
		out, err := protobuf.ToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	default:
		return nil, apierrors.NewUnsupportedMediaType(r.Header.Get("Content-Type"))
	}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if mt == mediaJSON || mt == "text/json" || mt == "*/*" {
		return data, checkJSON(data)
	}
	return yamlToJSON(data)
}

// checkJSON rejects what would be unsafe or lossy to decode: an empty body, invalid UTF-8 (encoding/json
// would silently replace it) and nesting deeper than maxNestingDepth.
func checkJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return apierrors.NewBadRequest("the request body is empty")
	}
	if !utf8.Valid(data) {
		return apierrors.NewBadRequest("the request body is not valid UTF-8")
	}
	if d := nestingDepth(data); d > maxNestingDepth {
		return apierrors.NewBadRequest(fmt.Sprintf("the request body nests deeper than %d levels", maxNestingDepth))
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid JSON: %v", err))
	}
	return nil
}

// nestingDepth returns the deepest nesting of objects and arrays in a JSON text, ignoring brackets in
// strings. It stops counting early once past the limit.
func nestingDepth(data []byte) int {
	depth, max := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				max = depth
				if max > maxNestingDepth {
					return max
				}
			}
		case '}', ']':
			depth--
		}
	}
	return max
}

// yamlToJSON converts a YAML body to JSON, refusing aliases (the "billion laughs" bomb) outright.
func yamlToJSON(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, apierrors.NewBadRequest("the request body is not valid UTF-8")
	}
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(data, &n); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid YAML: %v", err))
	}
	if hasAlias(&n, 0) {
		return nil, apierrors.NewBadRequest("the request body uses YAML aliases or is nested too deeply, which the server does not accept")
	}
	out, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid YAML: %v", err))
	}
	return out, checkJSON(out)
}

func hasAlias(n *yamlv3.Node, depth int) bool {
	if n.Kind == yamlv3.AliasNode || depth > maxNestingDepth {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c, depth+1) {
			return true
		}
	}
	return false
}

// decodeStrict decodes JSON into v case-sensitively and returns the strict-decoding problems (unknown
// and duplicate fields, with their paths) separately from a fatal error.
func decodeStrict(data []byte, v any) (strict []string, err error) {
	strictErrs, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		return nil, apierrors.NewBadRequest(decodeMessage(err))
	}
	for _, e := range strictErrs {
		strict = append(strict, e.Error())
	}
	return strict, nil
}

// decodeMessage phrases a JSON decoding error the way Kubernetes does.
func decodeMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return "the request body could not be decoded: " + msg
}
