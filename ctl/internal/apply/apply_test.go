package apply

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func obj(t *testing.T, y string) resource.Object {
	t.Helper()
	var o resource.Object
	if err := yaml.Unmarshal([]byte(y), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func deployments(t *testing.T) resources.Resource {
	r, ok := resources.Lookup("apps", "deployments")
	if !ok {
		t.Fatal("deployments not in the resources table")
	}
	return r
}

// applied returns a live object as the server would hold it after `apply` of cfg.
func applied(t *testing.T, cfg resource.Object) resource.Object {
	t.Helper()
	m, err := ModifiedConfiguration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var live resource.Object
	if err := json.Unmarshal(m, &live); err != nil {
		t.Fatal(err)
	}
	return live
}

const base = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: httpd, image: "busybox:1", env: [{name: A, value: "1"}]}
`

func TestThreeWayPatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		// last is the configuration applied before (empty: the object was created another way).
		last string
		// live changes, as a strategic merge patch applied to the last configuration's object.
		liveChange string
		// next is the configuration applied now.
		next string
		// want is the patch, "{}" meaning unchanged.
		want string
	}{
		{
			name: "same configuration again is unchanged",
			last: base, next: base, want: `{}`,
		},
		{
			name: "field changed by the user is sent",
			last: base,
			next: replace(base, `replicas: 3`, `replicas: 5`),
			want: `{"spec":{"replicas":5}}`,
		},
		{
			name: "field removed by the user is deleted",
			last: replace(base, `labels: {app: web}}`, `labels: {app: web, tier: fe}}`),
			next: base,
			want: `{"metadata":{"labels":{"tier":null}}}`,
		},
		{
			name: "field added by the user is added",
			last: base,
			next: replace(base, `labels: {app: web}}`, `labels: {app: web, tier: fe}}`),
			want: `{"metadata":{"labels":{"tier":"fe"}}}`,
		},
		{
			name:       "field set by someone else is kept",
			last:       base,
			liveChange: `{"metadata":{"annotations":{"owner":"ops"}},"spec":{"paused":true}}`,
			next:       base,
			want:       `{}`,
		},
		{
			name:       "field changed by someone else and by the user: the user's value wins",
			last:       base,
			liveChange: `{"spec":{"replicas":10}}`,
			next:       replace(base, `replicas: 3`, `replicas: 4`),
			want:       `{"spec":{"replicas":4}}`,
		},
		{
			name:       "field changed by someone else but not in the new configuration is reset to the user's value",
			last:       base,
			liveChange: `{"spec":{"replicas":10}}`,
			next:       base,
			want:       `{"spec":{"replicas":3}}`,
		},
		{
			name: "container merged by name: only the changed image is sent",
			last: base,
			next: replace(base, `image: "busybox:1"`, `image: "busybox:2"`),
			want: `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"httpd"}],"containers":[{"image":"busybox:2","name":"httpd"}]}}}}`,
		},
		{
			name: "env var removed by the user is deleted by merge key",
			last: base,
			next: replace(base, `, env: [{name: A, value: "1"}]`, ``),
			want: `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"httpd"}],"containers":[{"env":null,"name":"httpd"}]}}}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deployments(t)
			last := obj(t, tc.last)
			live := applied(t, last)
			if tc.liveChange != "" {
				cur, _ := json.Marshal(live)
				patched, err := strategicpatch.StrategicMergePatch(cur, []byte(tc.liveChange), &appsv1.Deployment{})
				if err != nil {
					t.Fatal(err)
				}
				live = resource.Object{}
				_ = json.Unmarshal(patched, &live)
			}
			next := obj(t, tc.next)
			modified, err := ModifiedConfiguration(next)
			if err != nil {
				t.Fatal(err)
			}
			current, _ := json.Marshal(live)
			patch, err := Patch(r, LastApplied(live), modified, current)
			if err != nil {
				t.Fatal(err)
			}
			// The annotation always changes with the configuration; compare the rest.
			got := withoutAnnotation(t, patch)
			if !jsonEqual(t, got, []byte(tc.want)) {
				t.Errorf("patch = %s, want %s", got, tc.want)
			}
		})
	}
}

func replace(s, old, new string) string {
	out := []byte{}
	i := indexOf(s, old)
	if i < 0 {
		panic("test fixture does not contain " + old)
	}
	out = append(out, s[:i]...)
	out = append(out, new...)
	out = append(out, s[i+len(old):]...)
	return string(out)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func withoutAnnotation(t *testing.T, patch []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		t.Fatal(err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
		if len(md) == 0 {
			delete(m, "metadata")
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad expected JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestModifiedConfigurationMatchesKubectl(t *testing.T) {
	o := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, annotations: {`+LastAppliedAnnotation+`: old}}, data: {b: "2", a: "1"}}`)
	m, err := ModifiedConfiguration(o)
	if err != nil {
		t.Fatal(err)
	}
	var got resource.Object
	_ = json.Unmarshal(m, &got)
	want := `{"apiVersion":"v1","data":{"a":"1","b":"2"},"kind":"ConfigMap","metadata":{"name":"c"}}` + "\n"
	if ann := got.Annotations()[LastAppliedAnnotation]; ann != want {
		t.Errorf("last-applied = %q, want %q (sorted keys, old annotation dropped, trailing newline)", ann, want)
	}
}

// fakeAPI is an in-memory stand-in for the three calls Apply makes; the real round trip against the
// apiserver is covered in internal/cmd's integration tests.
type fakeAPI struct {
	live    resource.Object
	created resource.Object
	patches []string
}

func (f *fakeAPI) Get(context.Context, resource.Ref) (resource.Object, error) {
	if f.live == nil {
		return nil, client.NewAPIError(metav1.Status{Code: 404, Reason: metav1.StatusReasonNotFound})
	}
	return f.live, nil
}

func (f *fakeAPI) Create(_ context.Context, _ resources.Resource, _ string, o resource.Object, _ url.Values) (resource.Object, error) {
	f.created = o
	return o, nil
}

func (f *fakeAPI) Patch(_ context.Context, _ resource.Ref, _ client.PatchType, p []byte, _ string) (resource.Object, error) {
	f.patches = append(f.patches, string(p))
	return f.live, nil
}

func TestApplyOutcomes(t *testing.T) {
	r := deployments(t)
	cfg := obj(t, base)

	api := &fakeAPI{}
	out, err := Apply(context.Background(), api, cfg, r, "default")
	if err != nil || out.Result != Created {
		t.Fatalf("first apply = %v, %v; want created", out.Result, err)
	}
	if LastApplied(api.created) == nil {
		t.Error("the created object carries no last-applied annotation")
	}

	api = &fakeAPI{live: applied(t, cfg)}
	if out, err = Apply(context.Background(), api, cfg, r, "default"); err != nil || out.Result != Unchanged || len(api.patches) != 0 {
		t.Fatalf("re-apply = %v, %v, patches %v; want unchanged and no patch", out.Result, err, api.patches)
	}

	api = &fakeAPI{live: obj(t, base)} // created without apply: no annotation
	if out, err = Apply(context.Background(), api, obj(t, replace(base, "replicas: 3", "replicas: 2")), r, "default"); err != nil || out.Result != Configured || !out.MissingAnnotation {
		t.Fatalf("apply over a created object = %+v, %v; want configured with MissingAnnotation", out, err)
	}
}
