package deploy_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// The Helm chart (deploy/helm/tsmcp) renders the same objects as the
// kustomize base and the replicated overlay; `helm lint` and `helm
// template` run for each value set, and the output goes through exactly
// the checks of TestKustomizeBuilds (checkK8s).

const helmChart = "deploy/helm/tsmcp"

// helmKubeVersion is the cluster version helm template renders for (the
// chart requires 1.27 or later; without a cluster helm assumes 1.20).
const helmKubeVersion = "1.31.0"

// helmBin finds helm; without it the test is skipped, except in CI (CI
// set), where .ci/run installs it (testutil.NeedTool).
func helmBin(t *testing.T) string {
	t.Helper()
	return testutil.NeedTool(t, "helm", `export PATH="$(.ci/tool helm):$PATH"`)
}

// runHelm runs helm with args in the repository root and returns its
// standard output; a failure is returned with standard error.
func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = testutil.RepoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &helmError{args: args, err: err, stderr: stderr.String()}
	}
	return out, nil
}

type helmError struct {
	args   []string
	err    error
	stderr string
}

func (e *helmError) Error() string {
	return "helm " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.stderr
}

// helmTargets: the chart's default values (one replica, as the base) and
// its ci/ value files.
var helmTargets = []struct {
	name   string
	values string // a file under the chart, "" for the defaults
	tg     k8sTarget
}{
	{name: "single", tg: k8sTarget{dir: helmChart, noNamespace: true}},
	{name: "single-namespace", values: "ci/single-namespace-values.yaml", tg: k8sTarget{dir: helmChart}},
	{name: "replicated", values: "ci/replicated-values.yaml", tg: k8sTarget{dir: helmChart, replicated: true, noNamespace: true}},
}

func TestHelmChart(t *testing.T) {
	for _, h := range helmTargets {
		t.Run(h.name, func(t *testing.T) {
			var values []string
			if h.values != "" {
				values = []string{"-f", filepath.Join(helmChart, h.values)}
			}
			if out, err := runHelm(t, append([]string{"lint", "--strict", helmChart}, values...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			out, err := runHelm(t, append([]string{"template", "tsmcp", helmChart, "--namespace", "tsmcp", "--kube-version", helmKubeVersion}, values...)...)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifests(t, out)
			checkK8s(t, h.tg, m)
			sameAsKustomize(t, h.tg, m)
		})
	}
}

// sameAsKustomize: the chart's pod security settings and NetworkPolicy
// rules are those of the matching kustomize build, field for field.
func sameAsKustomize(t *testing.T, tg k8sTarget, helm manifests) {
	t.Helper()
	dir := "deploy/k8s/base"
	if tg.replicated {
		dir = "deploy/k8s/overlays/replicated"
	}
	kust := decodeManifests(t, krustyBuild(t, filepath.Join(testutil.RepoRoot(t), dir)))
	pods := func(m manifests) corev1.PodSpec {
		if len(m.statefulSets) == 1 {
			return m.statefulSets[0].Spec.Template.Spec
		}
		return one(t, "Deployment", m.deployments).Spec.Template.Spec
	}
	hp, kp := pods(helm), pods(kust)
	hc, kc := one(t, "container", hp.Containers), one(t, "container", kp.Containers)
	checks := []struct {
		what string
		h, k any
	}{
		{"pod securityContext", hp.SecurityContext, kp.SecurityContext},
		{"container securityContext", hc.SecurityContext, kc.SecurityContext},
		{"volumes", hp.Volumes[1:], kp.Volumes[1:]}, // [0] is the config map, named per release
		{"volumeMounts", hc.VolumeMounts, kc.VolumeMounts},
		{"probes", []any{hc.StartupProbe, hc.LivenessProbe}, []any{kc.StartupProbe, kc.LivenessProbe}},
		{"ports", hc.Ports, kc.Ports},
		{"NetworkPolicy ingress", one(t, "NetworkPolicy", helm.netpols).Spec.Ingress, one(t, "NetworkPolicy", kust.netpols).Spec.Ingress},
		{"NetworkPolicy egress", one(t, "NetworkPolicy", helm.netpols).Spec.Egress, one(t, "NetworkPolicy", kust.netpols).Spec.Egress},
		{"Role rules", one(t, "Role", helm.roles).Rules, one(t, "Role", kust.roles).Rules},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.h, c.k) {
			t.Errorf("the chart and %s differ in %s:\nhelm:      %+v\nkustomize: %+v", dir, c.what, c.h, c.k)
		}
	}
}

// TestHelmChartRefuses: value sets that would break an invariant do not
// render.
func TestHelmChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{name: "replicas without a service", set: []string{"replicas=2"}, want: "service (svc:<name>) is required when replicas > 1"},
		{name: "a service with one replica", set: []string{"service=svc:tsmcp"}, want: "a Tailscale Service needs replicas >= 2"},
		{name: "a malformed service", set: []string{"replicas=2", "service=tsmcp"}, want: `service "tsmcp" is not svc:<name>`},
		{name: "replicas without tags", set: []string{"replicas=2", "service=svc:tsmcp", "tags=null"}, want: "tags are required when replicas > 1"},
		{name: "no replicas", set: []string{"replicas=0"}, want: "replicas must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "tsmcp", helmChart, "--namespace", "tsmcp", "--kube-version", helmKubeVersion}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := runHelm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template --set %v: %v, want an error saying %q", tc.set, err, tc.want)
			}
		})
	}
}
