package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
)

// LastAppliedAnnotation holds the configuration of the last apply.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Result says what an apply did.
type Result string

// The results, printed as "deployment.apps/web created".
const (
	Created    Result = "created"
	Configured Result = "configured"
	Unchanged  Result = "unchanged"
)

// ModifiedConfiguration returns the configuration to apply: obj with the last-applied annotation set
// to obj's own JSON (without that annotation), in kubectl's encoding (sorted keys, trailing newline).
func ModifiedConfiguration(obj resource.Object) ([]byte, error) {
	cp := obj.DeepCopy()
	if md, ok := cp["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	original, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	cp.SetAnnotation(LastAppliedAnnotation, string(original)+"\n")
	return json.Marshal(cp)
}

// LastApplied returns the last-applied configuration recorded on a live object, or nil.
func LastApplied(live resource.Object) []byte {
	if v, ok := live.Annotations()[LastAppliedAnnotation]; ok && v != "" {
		return []byte(v)
	}
	return nil
}

// Patch computes the strategic merge patch that takes current to modified, deleting what original had
// and modified no longer has. Fields only current has (set by controllers or other users) are kept;
// fields both have are overwritten with modified's value.
func Patch(r resources.Resource, original, modified, current []byte) ([]byte, error) {
	if r.New == nil {
		return nil, fmt.Errorf("no Go type for %s", r.GroupResource())
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(r.New())
	if err != nil {
		return nil, fmt.Errorf("reading patch metadata of %s: %w", r.Kind, err)
	}
	if original == nil {
		original = []byte("{}")
	}
	p, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
	if err != nil {
		return nil, fmt.Errorf("computing the patch for %s: %w", r.Kind, err)
	}
	return p, nil
}

// Client is what Apply needs from the API.
type Client interface {
	Get(ctx context.Context, ref resource.Ref) (resource.Object, error)
	Create(ctx context.Context, r resources.Resource, namespace string, obj resource.Object, q url.Values) (resource.Object, error)
	Patch(ctx context.Context, ref resource.Ref, pt client.PatchType, patch []byte, subresource string) (resource.Object, error)
}

// Outcome is the result of applying one object.
type Outcome struct {
	Result Result
	// MissingAnnotation is true when the live object had no last-applied annotation (it was made by
	// create or another tool); kubectl warns about it.
	MissingAnnotation bool
	Object            resource.Object
}

// Apply creates obj when it does not exist, else patches the live object three ways. namespace is
// where a namespaced object goes.
func Apply(ctx context.Context, c Client, obj resource.Object, r resources.Resource, namespace string) (Outcome, error) {
	modified, err := ModifiedConfiguration(obj)
	if err != nil {
		return Outcome{}, err
	}
	ref := resource.Ref{Resource: r, Namespace: namespace, Name: obj.Name()}
	if !r.Namespaced {
		ref.Namespace = ""
	}
	live, err := c.Get(ctx, ref)
	if client.IsNotFound(err) {
		var toCreate resource.Object
		if err := json.Unmarshal(modified, &toCreate); err != nil {
			return Outcome{}, err
		}
		created, err := c.Create(ctx, r, ref.Namespace, toCreate, nil)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Result: Created, Object: created}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	current, err := json.Marshal(live)
	if err != nil {
		return Outcome{}, err
	}
	original := LastApplied(live)
	out := Outcome{MissingAnnotation: original == nil, Object: live}
	patch, err := Patch(r, original, modified, current)
	if err != nil {
		return Outcome{}, err
	}
	if string(patch) == "{}" {
		out.Result = Unchanged
		return out, nil
	}
	patched, err := c.Patch(ctx, ref, client.StrategicMergePatchType, patch, "")
	if err != nil {
		return Outcome{}, err
	}
	out.Result, out.Object = Configured, patched
	return out, nil
}

var _ Client = (*resource.Dynamic)(nil)
