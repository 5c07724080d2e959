package handlers

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
)

// openAPIDocs is the minimal OpenAPI v3 Skiff serves: a root naming one document per group/version, and
// per group/version a PATCH operation for every kind that declares the fieldValidation parameter. That
// is what kubectl's validation looks for: with it, kubectl leaves validation to the server
// (fieldValidation=Strict) instead of downloading schemas, which Skiff does not publish.
type openAPIDocs struct {
	root map[string]any
	docs map[string][]byte // by path "api/v1", "apis/apps/v1"
	hash map[string]string
}

func buildOpenAPI(reg *registry.Registry) *openAPIDocs {
	o := &openAPIDocs{docs: map[string][]byte{}, hash: map[string]string{}}
	type gvDoc struct {
		paths map[string]any
	}
	byPath := map[string]*gvDoc{}
	var order []string
	for _, res := range reg.Resources() {
		path := "api/" + res.Version
		if res.Group != "" {
			path = "apis/" + res.Group + "/" + res.Version
		}
		d, ok := byPath[path]
		if !ok {
			d = &gvDoc{paths: map[string]any{}}
			byPath[path] = d
			order = append(order, path)
		}
		objPath := "/" + path + "/"
		if res.Namespaced {
			objPath += "namespaces/{namespace}/"
		}
		objPath += res.Plural + "/{name}"
		gvk := map[string]string{"group": res.Group, "version": res.Version, "kind": res.Kind}
		op := map[string]any{
			"x-kubernetes-group-version-kind": gvk,
			"x-kubernetes-action":             "patch",
			"parameters": []map[string]any{
				{"name": "fieldValidation", "in": "query", "schema": map[string]string{"type": "string"}, "description": "Ignore, Warn or Strict"},
				{"name": "dryRun", "in": "query", "schema": map[string]string{"type": "string"}},
				{"name": "fieldManager", "in": "query", "schema": map[string]string{"type": "string"}},
			},
			"responses": map[string]any{},
		}
		d.paths[objPath] = map[string]any{"patch": op}
	}
	root := map[string]any{}
	for _, path := range order {
		doc := map[string]any{
			"openapi": "3.0.0",
			"info":    map[string]string{"title": "Kubernetes", "version": "v1.32.0"},
			"paths":   byPath[path].paths,
			"components": map[string]any{
				"schemas": map[string]any{},
			},
		}
		data, _ := json.Marshal(doc)
		sum := sha512.Sum512(data)
		h := strings.ToUpper(hex.EncodeToString(sum[:]))[:64]
		o.docs[path] = data
		o.hash[path] = h
		root[path] = map[string]string{"serverRelativeURL": "/openapi/v3/" + path + "?hash=" + h}
	}
	o.root = map[string]any{"paths": root}
	return o
}

func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, apierrors.NewMethodNotAllowed(r.Method, r.URL.Path), apierrors.Target{})
		return
	}
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if path == "" {
		writeJSON(w, http.StatusOK, a.openapi.root)
		return
	}
	data, ok := a.openapi.docs[path]
	if !ok {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	h := a.openapi.hash[path]
	w.Header().Set("Etag", `"`+h+`"`)
	if r.URL.Query().Get("hash") == h {
		w.Header().Set("Cache-Control", "public, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
