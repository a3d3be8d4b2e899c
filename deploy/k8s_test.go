package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The manifests, and the names by which they refer to each other.
const (
	sweepManifest = "k8s-indexed-job.yaml"
	mergeManifest = "k8s-merge-job.yaml"
	resultsClaim  = "migsim-results"
	resultsPath   = "/results"
)

// decodeManifest decodes every YAML document of a manifest strictly into
// the Go type that the Kubernetes API has for its apiVersion and kind,
// with the API machinery's own decoder: an unknown or misspelt field, a
// field given twice, a value of the wrong type, an unparsable quantity or
// an unknown kind is an error naming the file, the document and the field.
func decodeManifest(name string, data []byte) ([]runtime.Object, error) {
	scheme := runtime.NewScheme()
	if err := errors.Join(corev1.AddToScheme(scheme), batchv1.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if js, err := utilyaml.ToJSON(doc); err == nil && string(js) == "null" {
			continue // comments only
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		objs = append(objs, obj)
	}
}

// validateObjects checks the rules of the Kubernetes API that its Go types
// do not express and that these manifests rely on (each is stated in the
// field's API documentation; the API server refuses an object that breaks
// one), and how the manifests fit together: the shards' Job and the merge
// Job share the results claim, a ReadWriteMany volume, at /results.
func validateObjects(objs []runtime.Object) field.ErrorList {
	var errs field.ErrorList
	claims := map[string]*corev1.PersistentVolumeClaim{}
	var jobs []*batchv1.Job
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			p := field.NewPath("PersistentVolumeClaim " + o.Name)
			errs = append(errs, validateName(o.Name, p.Child("metadata", "name"), validation.IsDNS1123Subdomain)...)
			if len(o.Spec.AccessModes) == 0 {
				errs = append(errs, field.Required(p.Child("spec", "accessModes"), ""))
			}
			if q := o.Spec.Resources.Requests[corev1.ResourceStorage]; q.Sign() <= 0 {
				errs = append(errs, field.Required(p.Child("spec", "resources", "requests", "storage"), "a positive size"))
			}
			claims[o.Name] = o
		case *batchv1.Job:
			errs = append(errs, validateJob(o)...)
			jobs = append(jobs, o)
		default:
			errs = append(errs, field.Forbidden(field.NewPath(obj.GetObjectKind().GroupVersionKind().Kind), "not a kind these manifests use"))
		}
	}
	for _, job := range jobs {
		p := field.NewPath("Job "+job.Name, "spec", "template", "spec")
		pod := job.Spec.Template.Spec
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool {
			return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == resultsClaim
		})
		if i < 0 {
			errs = append(errs, field.Required(p.Child("volumes"), "a volume of claim "+resultsClaim))
			continue
		}
		if claim := claims[resultsClaim]; claim == nil {
			errs = append(errs, field.NotFound(p.Child("volumes").Index(i).Child("persistentVolumeClaim", "claimName"), resultsClaim))
		} else if !slices.Contains(claim.Spec.AccessModes, corev1.ReadWriteMany) {
			errs = append(errs, field.Invalid(field.NewPath("PersistentVolumeClaim "+resultsClaim, "spec", "accessModes"), claim.Spec.AccessModes, "every shard's pod and the merge mount it: want ReadWriteMany"))
		}
		for j, c := range pod.Containers {
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == pod.Volumes[i].Name && m.MountPath == resultsPath
			}) {
				errs = append(errs, field.Required(p.Child("containers").Index(j).Child("volumeMounts"), fmt.Sprintf("volume %s at %s", pod.Volumes[i].Name, resultsPath)))
			}
		}
	}
	return errs
}

// validateJob checks a Job against the API's rules for Jobs and pods.
func validateJob(job *batchv1.Job) field.ErrorList {
	p := field.NewPath("Job "+job.Name, "spec")
	errs := validateName(job.Name, field.NewPath("Job "+job.Name, "metadata", "name"), validation.IsDNS1123Label)
	spec := job.Spec
	pod := spec.Template.Spec
	restart := p.Child("template", "spec", "restartPolicy")
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		errs = append(errs, field.NotSupported(restart, pod.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}))
	}
	for name, v := range map[string]*int32{"completions": spec.Completions, "parallelism": spec.Parallelism, "backoffLimit": spec.BackoffLimit,
		"backoffLimitPerIndex": spec.BackoffLimitPerIndex, "maxFailedIndexes": spec.MaxFailedIndexes} {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be greater than or equal to 0"))
		}
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if m := spec.CompletionMode; m != nil && *m != batchv1.IndexedCompletion && *m != batchv1.NonIndexedCompletion {
		errs = append(errs, field.NotSupported(p.Child("completionMode"), *m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if indexed && (spec.Completions == nil || *spec.Completions < 1) {
		errs = append(errs, field.Required(p.Child("completions"), "when completionMode is Indexed"))
	}
	if spec.BackoffLimitPerIndex != nil {
		if !indexed {
			errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), "only when completionMode is Indexed"))
		}
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), "only when the pod's restartPolicy is Never"))
		}
	}
	if spec.MaxFailedIndexes != nil {
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Forbidden(p.Child("maxFailedIndexes"), "only when backoffLimitPerIndex is set"))
		}
		if spec.Completions != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	}
	return append(errs, validatePod(pod, p.Child("template", "spec"))...)
}

// validatePod checks a pod template's containers and volumes.
func validatePod(pod corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if g := pod.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be greater than or equal to 0"))
	}
	volumes := map[string]bool{}
	for i, v := range pod.Volumes {
		vp := p.Child("volumes").Index(i)
		errs = append(errs, validateName(v.Name, vp.Child("name"), validation.IsDNS1123Label)...)
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		volumes[v.Name] = true
		sources := 0
		src := reflect.ValueOf(v.VolumeSource)
		for j := range src.NumField() {
			if !src.Field(j).IsNil() {
				sources++
			}
		}
		if sources != 1 {
			errs = append(errs, field.Invalid(vp, v.Name, fmt.Sprintf("must have exactly one source, has %d", sources)))
		}
		if c := v.ConfigMap; c != nil {
			errs = append(errs, validateName(c.Name, vp.Child("configMap", "name"), validation.IsDNS1123Subdomain)...)
		}
		if c := v.PersistentVolumeClaim; c != nil && c.ClaimName == "" {
			errs = append(errs, field.Required(vp.Child("persistentVolumeClaim", "claimName"), ""))
		}
	}
	if len(pod.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := map[string]bool{}
	for i, c := range pod.Containers {
		cp := p.Child("containers").Index(i)
		errs = append(errs, validateName(c.Name, cp.Child("name"), validation.IsDNS1123Label)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		}
		names[c.Name] = true
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		}
		for j, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(cp.Child("env").Index(j).Child("name"), e.Name, msg))
			}
		}
		paths := map[string]bool{}
		for j, m := range c.VolumeMounts {
			mp := cp.Child("volumeMounts").Index(j)
			if !volumes[m.Name] {
				errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
			}
			if !strings.HasPrefix(m.MountPath, "/") || paths[m.MountPath] {
				errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be an absolute path, used once"))
			}
			paths[m.MountPath] = true
		}
		for name, req := range c.Resources.Requests {
			if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
				errs = append(errs, field.Invalid(cp.Child("resources", "requests").Key(string(name)), req.String(), "must be less than or equal to the "+string(name)+" limit of "+lim.String()))
			}
		}
	}
	return errs
}

// validateName checks a name with one of the API's name rules.
func validateName(name string, p *field.Path, rule func(string) []string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range rule(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// checkManifests decodes and validates the two manifests, given as their
// texts, and returns their objects.
func checkManifests(texts map[string]string) ([]runtime.Object, error) {
	var objs []runtime.Object
	for _, name := range []string{sweepManifest, mergeManifest} {
		o, err := decodeManifest(name, []byte(texts[name]))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	if errs := validateObjects(objs); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return objs, nil
}

func readManifests(t *testing.T) map[string]string {
	t.Helper()
	texts := map[string]string{}
	for _, name := range []string{sweepManifest, mergeManifest} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		texts[name] = string(data)
	}
	return texts
}

// TestKubernetesManifests checks k8s-indexed-job.yaml and
// k8s-merge-job.yaml against the Kubernetes API: strict decoding into its
// Go types (k8s.io/api), then the API rules and cross-references that
// validateObjects checks. The manifests are checked, not run: no cluster
// is involved.
func TestKubernetesManifests(t *testing.T) {
	objs, err := checkManifests(readManifests(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			got = append(got, "PersistentVolumeClaim "+o.Name)
		case *batchv1.Job:
			mode := batchv1.NonIndexedCompletion
			if o.Spec.CompletionMode != nil {
				mode = *o.Spec.CompletionMode
			}
			got = append(got, fmt.Sprintf("Job %s %s", o.Name, mode))
		}
	}
	want := []string{"PersistentVolumeClaim " + resultsClaim, "Job migsim-sweep Indexed", "Job migsim-merge NonIndexed"}
	if !slices.Equal(got, want) {
		t.Errorf("the manifests hold %q, want %q", got, want)
	}
}

// TestKubernetesManifestErrors breaks the manifests one way at a time and
// checks that the check refuses each, naming the field.
func TestKubernetesManifestErrors(t *testing.T) {
	for _, c := range []struct {
		file, old, new, want string
	}{
		{sweepManifest, "completions: 8", "completionz: 8", `unknown field "spec.completionz"`},
		{sweepManifest, "parallelism: 8\n", "parallelism: 8\n  parallelism: 4\n", `key "parallelism" already set in map`},
		{sweepManifest, `value: "8"`, `value: 8`, "containers.env.value of type string"},
		{sweepManifest, "limits: {memory: 4Gi}", "limits: {memory: 4 gigs}", "quantities must match the regular expression"},
		{sweepManifest, "kind: Job", "kind: Jobs", `no kind "Jobs" is registered`},
		{sweepManifest, "completionMode: Indexed", "completionMode: NonIndexed", "backoffLimitPerIndex: Forbidden: only when completionMode is Indexed"},
		{sweepManifest, "maxFailedIndexes: 0", "maxFailedIndexes: 9", "maxFailedIndexes: Invalid value: 9: must be less than or equal to completions"},
		{sweepManifest, "restartPolicy: Never", "restartPolicy: Always", `restartPolicy: Unsupported value: "Always"`},
		{sweepManifest, "{name: results, mountPath: /results}", "{name: result, mountPath: /results}", `volumeMounts[1].name: Not found: "result"`},
		{sweepManifest, "limits: {memory: 4Gi}", "limits: {memory: 2Gi}", "must be less than or equal to the memory limit of 2Gi"},
		{sweepManifest, "name: migsim-sweep", "name: migsim_sweep", `metadata.name: Invalid value: "migsim_sweep"`},
		{sweepManifest, "accessModes: [ReadWriteMany]", "accessModes: [ReadWriteOnce]", "want ReadWriteMany"},
		{mergeManifest, "claimName: migsim-results", "claimName: migsim-output", "a volume of claim migsim-results"},
		{mergeManifest, "mountPath: /results", "mountPath: /output", "volume results at /results"},
	} {
		texts := readManifests(t)
		if !strings.Contains(texts[c.file], c.old) {
			t.Fatalf("%s no longer contains %q: update this test", c.file, c.old)
		}
		texts[c.file] = strings.Replace(texts[c.file], c.old, c.new, 1)
		_, err := checkManifests(texts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %q for %q: error %v, want one containing %q", c.file, c.new, c.old, err, c.want)
		}
	}
}
