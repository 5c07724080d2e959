package handlers

import (
	"net/http"
	"strings"
)

// requestInfo is what the URL of an API request says: which resource, object and verb.
type requestInfo struct {
	// IsResource is false for non-resource paths (/version, /api, /apis/apps, ...).
	IsResource bool
	// Prefix is "api" or "apis".
	Prefix      string
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Verb is the Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
	Verb string
	// Parts are the path segments after /api or /apis.
	Parts []string
}

// namespaceSubresources are the subresources of a Namespace object itself, which make
// /api/v1/namespaces/{name}/{sub} name a namespace rather than a resource inside it.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo splits an API path the way Kubernetes does:
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}
//	/api/v1/watch/namespaces/{ns}/{resource}   (legacy watch paths)
func parseRequestInfo(r *http.Request) requestInfo {
	path := strings.Trim(r.URL.Path, "/")
	parts := splitPath(path)
	info := requestInfo{}
	if len(parts) == 0 {
		return info
	}
	info.Prefix = parts[0]
	switch parts[0] {
	case "api":
		parts = parts[1:]
		if len(parts) < 1 {
			info.Parts = parts
			return info
		}
		info.Version = parts[0]
		parts = parts[1:]
	case "apis":
		parts = parts[1:]
		if len(parts) < 2 {
			info.Parts = parts
			return info
		}
		info.Group, info.Version = parts[0], parts[1]
		parts = parts[2:]
	default:
		return info
	}
	info.Parts = parts
	if len(parts) == 0 {
		return info
	}
	info.IsResource = true
	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch = true
		parts = parts[1:]
	}
	if len(parts) >= 1 && parts[0] == "namespaces" {
		if len(parts) > 1 {
			info.Namespace = parts[1]
			if len(parts) > 2 && !namespaceSubresources[parts[2]] {
				parts = parts[2:]
			}
		}
	}
	if len(parts) == 0 {
		info.IsResource = false
		return info
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 {
		// Deeper paths are only meaningful for proxy subresources, which Skiff does not serve.
		info.Subresource = strings.Join(parts[2:], "/")
	}
	// /api/v1/namespaces/{name}[/status|/finalize]: the namespace object itself.
	if info.Resource == "namespaces" && info.Namespace != "" && info.Name == info.Namespace {
		info.Namespace = ""
	}
	info.Verb = verbFor(r, info.Name != "", legacyWatch)
	return info
}

func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

func verbFor(r *http.Request, hasName, legacyWatch bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if legacyWatch || isWatch(r) {
			return "watch"
		}
		if hasName {
			return "get"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if hasName {
			return "delete"
		}
		return "deletecollection"
	}
	return strings.ToLower(r.Method)
}

func isWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}
