package handlers

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// output is the response format a request asked for.
type output struct {
	table bool
	yaml  bool
	// includeObject is the Table's includeObject parameter (Metadata by default).
	includeObject string
}

// negotiate reads Accept. JSON is the default; as=Table asks for a meta.k8s.io Table; application/yaml
// for YAML. An Accept that allows none of these (protobuf only) is 406.
func negotiate(r *http.Request) (output, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return output{}, nil
	}
	ok := false
	var out output
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*", "application/json-seq":
			if params["as"] == "Table" && params["g"] == "meta.k8s.io" && !ok {
				return output{table: true, includeObject: r.URL.Query().Get("includeObject")}, nil
			}
			if params["as"] != "" && params["as"] != "Table" {
				// PartialObjectMetadata and other conversions are not served; fall through to JSON.
				continue
			}
			ok = true
		case "application/yaml":
			if !ok {
				out.yaml = true
			}
			ok = true
		}
	}
	if !ok {
		return output{}, apierrors.NewNotAcceptable(accept)
	}
	return out, nil
}

// writeJSON writes any value as JSON with a status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		st := apierrors.NewInternalError(err)
		data, _ = json.Marshal(st)
		code = int(st.Code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(data)
	_, _ = w.Write([]byte("\n"))
}

// writeOutput writes v as JSON or YAML, per the negotiated output.
func writeOutput(w http.ResponseWriter, out output, code int, v any) {
	if !out.yaml {
		writeJSON(w, code, v)
		return
	}
	data, err := json.Marshal(v)
	if err == nil {
		data, err = yaml.JSONToYAML(data)
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeStatus writes err as a Status, always in JSON.
func writeStatus(w http.ResponseWriter, err error, t apierrors.Target) {
	st := apierrors.ToStatus(err, t)
	if st.Kind == "" {
		st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, st)
}

// successStatus is the Status body of a delete or binding that returns no object.
func successStatus(code int, details *metav1.StatusDetails) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  details,
		Code:     int32(code),
	}
}

// toMap turns any object into its generic JSON form.
func toMap(v any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	return m
}
