package registry

import (
	"github.com/skiffhq/skiff/shared/api/resources"
)

// FromTable turns the shared resource table into served resources.
func FromTable(all []resources.Resource) []*Resource {
	out := make([]*Resource, 0, len(all))
	for _, r := range all {
		res := &Resource{
			Group: r.Group, Version: r.Version, Kind: r.Kind, Plural: r.Plural, Singular: r.Singular,
			ShortNames: r.ShortNames, Categories: r.Categories, Verbs: r.Verbs, Namespaced: r.Namespaced,
			New: r.New, KeyPrefix: r.StorageKey("", ""),
		}
		for _, s := range r.Subresources {
			res.Subresources = append(res.Subresources, Subresource{Name: s.Name, Group: s.Group, Version: s.Version, Kind: s.Kind, Verbs: s.Verbs})
		}
		out = append(out, res)
	}
	return out
}
