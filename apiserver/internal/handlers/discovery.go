package handlers

import (
	"mime"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
)

// Discovery documents, in the shapes of meta.k8s.io/v1 and apidiscovery.k8s.io/v2.

type groupVersionForDiscovery struct {
	GroupVersion string `json:"groupVersion"`
	Version      string `json:"version"`
}

type apiGroup struct {
	Kind             string                     `json:"kind,omitempty"`
	APIVersion       string                     `json:"apiVersion,omitempty"`
	Name             string                     `json:"name"`
	Versions         []groupVersionForDiscovery `json:"versions"`
	PreferredVersion groupVersionForDiscovery   `json:"preferredVersion"`
}

type apiGroupList struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Groups     []apiGroup `json:"groups"`
}

type serverAddress struct {
	ClientCIDR    string `json:"clientCIDR"`
	ServerAddress string `json:"serverAddress"`
}

type apiVersions struct {
	Kind                       string          `json:"kind"`
	Versions                   []string        `json:"versions"`
	ServerAddressByClientCIDRs []serverAddress `json:"serverAddressByClientCIDRs"`
}

type apiResource struct {
	Name         string   `json:"name"`
	SingularName string   `json:"singularName"`
	Namespaced   bool     `json:"namespaced"`
	Group        string   `json:"group,omitempty"`
	Version      string   `json:"version,omitempty"`
	Kind         string   `json:"kind"`
	Verbs        []string `json:"verbs"`
	ShortNames   []string `json:"shortNames,omitempty"`
	Categories   []string `json:"categories,omitempty"`
}

type apiResourceList struct {
	Kind         string        `json:"kind"`
	APIVersion   string        `json:"apiVersion"`
	GroupVersion string        `json:"groupVersion"`
	Resources    []apiResource `json:"resources"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type discoverySubresource struct {
	Subresource  string           `json:"subresource"`
	ResponseKind groupVersionKind `json:"responseKind"`
	Verbs        []string         `json:"verbs"`
}

type discoveryResource struct {
	Resource         string                 `json:"resource"`
	ResponseKind     groupVersionKind       `json:"responseKind"`
	Scope            string                 `json:"scope"`
	SingularResource string                 `json:"singularResource"`
	Verbs            []string               `json:"verbs"`
	ShortNames       []string               `json:"shortNames,omitempty"`
	Categories       []string               `json:"categories,omitempty"`
	Subresources     []discoverySubresource `json:"subresources,omitempty"`
}

type discoveryVersion struct {
	Version   string              `json:"version"`
	Resources []discoveryResource `json:"resources"`
	Freshness string              `json:"freshness"`
}

type discoveryGroup struct {
	Metadata struct {
		Name string `json:"name,omitempty"`
	} `json:"metadata"`
	Versions []discoveryVersion `json:"versions"`
}

type discoveryGroupList struct {
	Kind       string           `json:"kind"`
	APIVersion string           `json:"apiVersion"`
	Metadata   struct{}         `json:"metadata"`
	Items      []discoveryGroup `json:"items"`
}

// discoveryDocs are every discovery document, built once from the resource table.
type discoveryDocs struct {
	groups        apiGroupList
	groupByName   map[string]apiGroup
	resourceLists map[string]apiResourceList // by group/version ("v1", "apps/v1")
	aggregatedAPI discoveryGroupList
	aggregatedAll discoveryGroupList
}

// subresourceInfo is the kind and verbs a subresource answers with; an empty kind is the parent's.
func subresourceInfo(sub registry.Subresource) (groupVersionKind, []string) {
	verbs := slices.Clone(sub.Verbs)
	sort.Strings(verbs)
	if sub.Kind == "" {
		return groupVersionKind{}, verbs
	}
	return groupVersionKind{Group: sub.Group, Version: sub.Version, Kind: sub.Kind}, verbs
}

func buildDiscovery(reg *registry.Registry) *discoveryDocs {
	d := &discoveryDocs{groupByName: map[string]apiGroup{}, resourceLists: map[string]apiResourceList{}}
	d.groups = apiGroupList{Kind: "APIGroupList", APIVersion: "v1", Groups: []apiGroup{}}
	d.aggregatedAPI = discoveryGroupList{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}
	d.aggregatedAll = discoveryGroupList{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2", Items: []discoveryGroup{}}

	type gv struct{ group, version string }
	var order []gv
	byGV := map[gv][]*registry.Resource{}
	for _, res := range reg.Resources() {
		k := gv{res.Group, res.Version}
		if _, ok := byGV[k]; !ok {
			order = append(order, k)
		}
		byGV[k] = append(byGV[k], res)
	}
	groupVersions := map[string][]string{}
	var groupOrder []string
	for _, k := range order {
		gvs := k.version
		if k.group != "" {
			gvs = k.group + "/" + k.version
		}
		list := apiResourceList{Kind: "APIResourceList", APIVersion: "v1", GroupVersion: gvs, Resources: []apiResource{}}
		dv := discoveryVersion{Version: k.version, Freshness: "Current", Resources: []discoveryResource{}}
		for _, res := range byGV[k] {
			scope := "Cluster"
			if res.Namespaced {
				scope = "Namespaced"
			}
			verbs := slices.Clone(res.Verbs)
			sort.Strings(verbs)
			list.Resources = append(list.Resources, apiResource{
				Name: res.Plural, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
				Verbs: verbs, ShortNames: res.ShortNames, Categories: res.Categories,
			})
			dr := discoveryResource{
				Resource: res.Plural, ResponseKind: groupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind},
				Scope: scope, SingularResource: res.Singular, Verbs: verbs, ShortNames: res.ShortNames, Categories: res.Categories,
			}
			for _, sub := range res.Subresources {
				kind, subVerbs := subresourceInfo(sub)
				ar := apiResource{Name: res.Plural + "/" + sub.Name, Namespaced: res.Namespaced, Kind: kind.Kind, Verbs: subVerbs}
				if kind.Kind == "" {
					ar.Kind = res.Kind
					kind = groupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind}
				} else if kind.Group != "" || kind.Version != "" {
					ar.Group, ar.Version = kind.Group, kind.Version
				}
				if kind.Version == "" {
					kind.Group, kind.Version = res.Group, res.Version
				}
				list.Resources = append(list.Resources, ar)
				dr.Subresources = append(dr.Subresources, discoverySubresource{Subresource: sub.Name, ResponseKind: kind, Verbs: subVerbs})
			}
			dv.Resources = append(dv.Resources, dr)
		}
		d.resourceLists[gvs] = list
		dg := discoveryGroup{Versions: []discoveryVersion{dv}}
		if k.group == "" {
			d.aggregatedAPI.Items = append(d.aggregatedAPI.Items, dg)
			continue
		}
		if _, ok := groupVersions[k.group]; !ok {
			groupOrder = append(groupOrder, k.group)
		}
		groupVersions[k.group] = append(groupVersions[k.group], k.version)
		// Versions of one group go into one aggregated item, preferred (first seen) first.
		found := false
		for i := range d.aggregatedAll.Items {
			if d.aggregatedAll.Items[i].Metadata.Name == k.group {
				d.aggregatedAll.Items[i].Versions = append(d.aggregatedAll.Items[i].Versions, dv)
				found = true
			}
		}
		if !found {
			dg.Metadata.Name = k.group
			d.aggregatedAll.Items = append(d.aggregatedAll.Items, dg)
		}
	}
	for _, g := range groupOrder {
		ag := apiGroup{Name: g}
		for _, v := range groupVersions[g] {
			ag.Versions = append(ag.Versions, groupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
		}
		ag.PreferredVersion = ag.Versions[0]
		d.groups.Groups = append(d.groups.Groups, ag)
		withKind := ag
		withKind.Kind, withKind.APIVersion = "APIGroup", "v1"
		d.groupByName[g] = withKind
	}
	if d.aggregatedAPI.Items == nil {
		d.aggregatedAPI.Items = []discoveryGroup{}
	}
	return d
}

// wantsAggregated reports whether Accept asks for apidiscovery.k8s.io/v2 (chosen by the Content-Type
// of the answer: older clients that only know v2beta1 get the legacy documents).
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func (a *API) serveDiscovery(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, apierrors.NewMethodNotAllowed(r.Method, r.URL.Path), apierrors.Target{})
		return
	}
	d := a.discovery
	switch {
	case info.Prefix == "api" && info.Version == "":
		if wantsAggregated(r) {
			writeJSONTyped(w, aggregatedContentType, d.aggregatedAPI)
			return
		}
		host := r.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, "80")
		}
		writeJSON(w, http.StatusOK, apiVersions{Kind: "APIVersions", Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []serverAddress{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}})
	case info.Prefix == "api":
		list, ok := d.resourceLists[info.Version]
		if !ok {
			writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
			return
		}
		writeJSON(w, http.StatusOK, list)
	case info.Prefix == "apis" && len(info.Parts) == 0 && info.Group == "":
		if wantsAggregated(r) {
			writeJSONTyped(w, aggregatedContentType, d.aggregatedAll)
			return
		}
		writeJSON(w, http.StatusOK, d.groups)
	case info.Prefix == "apis" && info.Group == "" && len(info.Parts) == 1:
		g, ok := d.groupByName[info.Parts[0]]
		if !ok {
			writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
			return
		}
		writeJSON(w, http.StatusOK, g)
	default:
		list, ok := d.resourceLists[info.Group+"/"+info.Version]
		if !ok || info.Group == "" {
			writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
			return
		}
		writeJSON(w, http.StatusOK, list)
	}
}

// writeJSONTyped writes JSON under a specific Content-Type.
func writeJSONTyped(w http.ResponseWriter, contentType string, v any) {
	rec := &headerOverride{ResponseWriter: w, contentType: contentType}
	writeJSON(rec, http.StatusOK, v)
}

// headerOverride replaces the Content-Type writeJSON sets.
type headerOverride struct {
	http.ResponseWriter
	contentType string
}

func (h *headerOverride) WriteHeader(code int) {
	h.ResponseWriter.Header().Set("Content-Type", h.contentType)
	h.ResponseWriter.WriteHeader(code)
}
