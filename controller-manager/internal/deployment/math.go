package deployment

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// Annotations the deployment controller keeps on deployments and their replica sets (Kubernetes's names,
// so kubectl rollout history/undo work).
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	ChangeCauseAnnotation     = "kubernetes.io/change-cause"
)

// scaledValue resolves an int-or-percent against total: a percentage is rounded up or down as asked.
func scaledValue(v *intstr.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	switch v.Type {
	case intstr.Int:
		return v.IntVal, nil
	case intstr.String:
		s := v.StrVal
		if !strings.HasSuffix(s, "%") {
			return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", s)
		}
		p, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
		if err != nil {
			return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", s)
		}
		f := float64(p) * float64(total) / 100
		if roundUp {
			return int32(math.Ceil(f)), nil
		}
		return int32(math.Floor(f)), nil
	}
	return 0, fmt.Errorf("invalid int-or-string type %d", v.Type)
}

// Fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded down) for a deployment of
// replicas pods, as Kubernetes does; when both come out 0, maxUnavailable becomes 1 so a rollout can
// always make progress.
func Fenceposts(maxSurge, maxUnavailable *intstr.IntOrString, replicas int32) (surge, unavailable int32, err error) {
	if surge, err = scaledValue(maxSurge, replicas, true); err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	if unavailable, err = scaledValue(maxUnavailable, replicas, false); err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

// defaultRolling is 25%/25%, the API default, for deployments stored without a rollingUpdate block.
var defaultQuarter = intstr.FromString("25%")

func rollingParams(d *appsv1.Deployment) (surge, unavailable *intstr.IntOrString) {
	surge, unavailable = &defaultQuarter, &defaultQuarter
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable
		}
	}
	return surge, unavailable
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

// MaxUnavailable is the deployment's resolved maxUnavailable (0 for Recreate), capped at replicas.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	r := replicasOf(d)
	if r == 0 {
		return 0
	}
	s, u := rollingParams(d)
	_, mu, err := Fenceposts(s, u, r)
	if err != nil {
		return 0
	}
	if mu > r {
		return r
	}
	return mu
}

// MaxSurge is the deployment's resolved maxSurge (0 for Recreate).
func MaxSurge(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	s, u := rollingParams(d)
	ms, _, err := Fenceposts(s, u, replicasOf(d))
	if err != nil {
		return 0
	}
	return ms
}

// NewRSNewReplicas is how many replicas the new replica set may have in this step of a rolling update:
// scale up while the total stays within replicas+maxSurge.
func NewRSNewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	replicas := replicasOf(d)
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return replicas
	}
	if rsReplicas(newRS) >= replicas {
		return replicas
	}
	maxTotal := replicas + MaxSurge(d)
	// count what exists as well as what is asked for: an old set scaled down still has its pods until
	// its controller has deleted them, and those pods count against maxSurge
	current := sumPods(all)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := maxTotal - current
	if room := replicas - rsReplicas(newRS); up > room {
		up = room
	}
	return rsReplicas(newRS) + up
}

func sumReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		n += rsReplicas(rs)
	}
	return n
}

func sumPods(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		n += max(rsReplicas(rs), statusReplicas(rs))
	}
	return n
}

func statusReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.Status.Replicas
}

// sumAvailable counts available pods, each set's at most its spec.replicas: a set just scaled down
// still reports the pods it is about to delete, and counting them would let a second scale-down in
// the same step eat into the availability budget twice.
func sumAvailable(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += min(rs.Status.AvailableReplicas, rsReplicas(rs))
		}
	}
	return n
}

// OldScaleDown plans the old replica sets' new sizes in one rolling-update step, as Kubernetes's
// reconcileOldReplicaSets does: first remove unhealthy old pods (they cost no availability), then scale
// old sets down only as far as availability stays at replicas-maxUnavailable, counting the new set's
// not-yet-available pods against the budget. It returns the target size per old set name; sets absent
// from the map keep their size.
func OldScaleDown(d *appsv1.Deployment, all []*appsv1.ReplicaSet, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) map[string]int32 {
	targets := map[string]int32{}
	if sumReplicas(old) == 0 {
		return targets
	}
	replicas := replicasOf(d)
	minAvailable := replicas - MaxUnavailable(d)
	newUnavailable := rsReplicas(newRS)
	if newRS != nil {
		newUnavailable -= newRS.Status.AvailableReplicas
	}
	if newUnavailable < 0 {
		newUnavailable = 0
	}
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return targets
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(sorted)
	size := func(rs *appsv1.ReplicaSet) int32 {
		if v, ok := targets[rs.Name]; ok {
			return v
		}
		return rsReplicas(rs)
	}

	// Step 1: unhealthy old pods go first, up to maxScaledDown.
	var cleaned int32
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		cur := size(rs)
		avail := min(rs.Status.AvailableReplicas, cur)
		if cur == 0 || cur <= avail {
			continue
		}
		down := cur - avail
		if left := maxScaledDown - cleaned; down > left {
			down = left
		}
		targets[rs.Name] = cur - down
		cleaned += down
	}

	// Step 2: healthy old pods, keeping minAvailable.
	available := sumAvailable(all)
	if available <= minAvailable {
		return targets
	}
	budget := available - minAvailable
	for _, rs := range sorted {
		if budget <= 0 {
			break
		}
		cur := size(rs)
		if cur == 0 {
			continue
		}
		down := cur
		if down > budget {
			down = budget
		}
		targets[rs.Name] = cur - down
		budget -= down
	}
	return targets
}

func sortByCreation(sets []*appsv1.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := sets[i].CreationTimestamp, sets[j].CreationTimestamp
		if a.Time.Equal(b.Time) {
			return sets[i].Name < sets[j].Name
		}
		return a.Before(b.Time)
	})
}

// TemplateHash returns the pod-template-hash of a template: FNV-32a over its JSON (without the
// pod-template-hash label) and the collision count, written with the alphabet Kubernetes uses for
// generated names (no vowels, so no words).
func TemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	c := stripHash(t)
	data, _ := json.Marshal(c)
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		n := uint32(*collisionCount)
		b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		h.Write(b[:])
	}
	return safeEncode(strconv.FormatUint(uint64(h.Sum32()), 10))
}

const alphanums = "bcdfghjklmnpqrstvwxz2456789"

func safeEncode(s string) string {
	r := []byte(s)
	for i, b := range r {
		r[i] = alphanums[int(b)%len(alphanums)]
	}
	return string(r)
}

// stripHash returns a copy of t without the pod-template-hash label.
func stripHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := *t
	if _, ok := t.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		c.Labels = map[string]string{}
		for k, v := range t.Labels {
			if k != appsv1.DefaultDeploymentUniqueLabelKey {
				c.Labels[k] = v
			}
		}
		if len(c.Labels) == 0 {
			c.Labels = nil
		}
	}
	return &c
}

// EqualIgnoreHash reports whether two templates are the same apart from the pod-template-hash label:
// how a deployment recognises the replica set of its current template (and reuses an old one on
// rollback).
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	ja, _ := json.Marshal(stripHash(a))
	jb, _ := json.Marshal(stripHash(b))
	return string(ja) == string(jb)
}

// Revision returns the revision annotation of an object's annotations (0 when absent or malformed).
func Revision(annotations map[string]string) int64 {
	v, err := strconv.ParseInt(annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}
