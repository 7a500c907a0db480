package deploy_test

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tsmcp/tsmcp/internal/config"
)

// serviceFailover is how long Tailscale takes to move a service to another
// host once the serving one withdraws or disappears (about 15 s on default
// plans). A replacement replica must have been available at least this
// long before the next one is taken down.
const serviceFailover = 15 * time.Second

// exampleSessionKey stands for the session key Secret's value, which the
// repository leaves empty (a placeholder): 32 bytes, hex.
const exampleSessionKey = "6f1d0c5b2a39487766e5d4c3b2a1908f7e6d5c4b3a29181706f5e4d3c2b1a090"

// serviceNameRE is the form of tailnet.service (replicas.md).
var serviceNameRE = regexp.MustCompile(`^svc:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// podEnv is container c's environment in the pod named podName, resolved
// as the kubelet does: fieldRef metadata.name, $(VAR) references to
// variables defined earlier in the list, and secretKeyRef from the Secrets
// in the build (the session key placeholder as exampleSessionKey). A
// reference to a Secret or key the build lacks is an error unless optional.
func podEnv(t *testing.T, m manifests, c corev1.Container, podName string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expandEnv(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = podName
			default:
				t.Fatalf("env %s: fieldRef %s is not resolved by this test; add it", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			s := secretNamed(m, ref.Name)
			if s == nil {
				if !optional {
					t.Errorf("env %s refers to Secret %q, which is not in the build", e.Name, ref.Name)
				}
				continue
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				var b []byte
				b, ok = s.Data[ref.Key]
				v = string(b)
			}
			if !ok && !optional {
				t.Errorf("env %s refers to key %q of Secret %s, which lacks it", e.Name, ref.Key, ref.Name)
			}
			if e.Name == "TSMCP_MCP_SESSION_KEY" {
				v = exampleSessionKey
			}
			env[e.Name] = v
		default:
			t.Fatalf("env %s: valueFrom %+v is not resolved by this test; add it", e.Name, e.ValueFrom)
		}
	}
	return env
}

// expandEnv replaces $(NAME) in s by env[NAME] where NAME is defined, and
// $$ by $, as the kubelet expands a container's env values.
func expandEnv(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := env[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// configField returns the field of a config section (a struct) whose
// mapstructure key is key. Reading the replica keys by their config names
// keeps these tests independent of the Go field names.
func configField(section any, key string) (reflect.Value, bool) {
	v := reflect.ValueOf(section)
	for i := range v.NumField() {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("mapstructure"), ",")
		if tag == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// serviceDrain is cfg's tailnet.service_drain as loaded (its default
// applied), which applies only with a tailnet.service: without one (or
// with a config that has no such keys, outside replicas) it is 0.
func serviceDrain(t *testing.T, cfg *config.Config, replicated bool) time.Duration {
	t.Helper()
	svc, okSvc := configField(cfg.Tailnet, "service")
	drain, okDrain := configField(cfg.Tailnet, "service_drain")
	switch {
	case !okSvc || !okDrain:
		if replicated {
			t.Fatal("internal/config has no tailnet.service or tailnet.service_drain (issue 15)")
		}
		return 0
	case svc.String() == "":
		return 0
	}
	return time.Duration(drain.Int())
}

// checkStatefulSet: the replicated workload is one StatefulSet, rolled one
// pod at a time with a ready replica left, with no governing Service and
// no volumes of its own (the state is in Secrets).
func checkStatefulSet(t *testing.T, m manifests) appsv1.StatefulSet {
	sts := one(t, "StatefulSet", m.statefulSets)
	if len(m.deployments) != 0 {
		t.Errorf("%d Deployments next to the StatefulSet: two writers for one state", len(m.deployments))
	}
	spec := sts.Spec
	if spec.Replicas == nil || *spec.Replicas < 2 {
		t.Fatalf("replicas = %v, want at least 2", spec.Replicas)
	}
	if spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
		t.Errorf("podManagementPolicy = %q, want OrderedReady (start each pod after the previous one is Ready)", spec.PodManagementPolicy)
	}
	us := spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateStatefulSetStrategyType || us.RollingUpdate == nil {
		t.Errorf("updateStrategy = %+v, want RollingUpdate", us)
	} else {
		if mu := us.RollingUpdate.MaxUnavailable; mu == nil || mu.Type != intstr.Int || mu.IntValue() != 1 {
			t.Errorf("rollingUpdate.maxUnavailable = %v, want 1: one replica down at a time", mu)
		}
		if p := us.RollingUpdate.Partition; p != nil && *p != 0 {
			t.Errorf("rollingUpdate.partition = %d: pods below it are never updated", *p)
		}
	}
	if got := time.Duration(spec.MinReadySeconds) * time.Second; got < serviceFailover {
		t.Errorf("minReadySeconds = %v, want at least %v: the next replica goes down only once the service can move to the new one", got, serviceFailover)
	}
	if spec.ServiceName != "" {
		t.Errorf("serviceName = %q: no Service may front tsmcp, and the pods need no cluster DNS names", spec.ServiceName)
	}
	if len(spec.VolumeClaimTemplates) != 0 {
		t.Errorf("volumeClaimTemplates %d: the state is in Secrets, not volumes", len(spec.VolumeClaimTemplates))
	}
	if spec.Selector == nil || len(spec.Selector.MatchLabels) == 0 {
		t.Fatal("StatefulSet has no selector labels")
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template", k, v)
		}
	}
	return sts
}

// checkReplicated: the replicas serve one Tailscale Service as distinct
// tagged nodes, share the session key from a Secret, and a
// PodDisruptionBudget keeps one of them up. cfgs are the configs of the
// pods named podNames.
func checkReplicated(t *testing.T, m manifests, tmpl corev1.PodTemplateSpec, c corev1.Container, podNames []string, cfgs []*config.Config) {
	var services, hostnames []string
	for i, cfg := range cfgs {
		f, ok := configField(cfg.Tailnet, "service")
		if !ok {
			t.Fatal("internal/config has no tailnet.service (issue 15)")
		}
		svc := f.String()
		if !serviceNameRE.MatchString(svc) {
			t.Errorf("pod %s: tailnet.service = %q, want svc:<name>", podNames[i], svc)
		}
		services = append(services, svc)
		if len(cfg.Tailnet.Tags) == 0 {
			t.Errorf("pod %s: no tailnet.tags; service hosts are tagged nodes", podNames[i])
		}
		if slices.Contains(hostnames, cfg.Tailnet.Hostname) {
			t.Errorf("pods share the hostname %q; each replica is a node of its own", cfg.Tailnet.Hostname)
		}
		hostnames = append(hostnames, cfg.Tailnet.Hostname)
	}
	if len(slices.Compact(slices.Clone(services))) != 1 {
		t.Errorf("the pods serve different services %v", services)
	}
	if slices.Contains(hostnames, strings.TrimPrefix(services[0], "svc:")) {
		t.Errorf("a pod's hostname is the service's name %s: their MagicDNS names would collide", services[0])
	}

	// The session key: from a Secret, the same for every pod, never a
	// value in the manifests.
	e := envVar(c, "TSMCP_MCP_SESSION_KEY")
	switch {
	case e == nil:
		t.Error("TSMCP_MCP_SESSION_KEY is not set; replicas must share a session key")
	case e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
		t.Error("TSMCP_MCP_SESSION_KEY must come from a secretKeyRef, not a value")
	case e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional:
		t.Error("TSMCP_MCP_SESSION_KEY's secretKeyRef is optional; a replica without it could not verify the others' sessions")
	default:
		ref := e.ValueFrom.SecretKeyRef
		if s := secretNamed(m, ref.Name); s != nil && (s.StringData[ref.Key] != "" || len(s.Data[ref.Key]) != 0) {
			t.Errorf("Secret %s holds a session key; keep keys out of the repository (a placeholder is empty)", s.Name)
		}
	}
	for _, cm := range m.configMaps {
		for k, v := range cm.Data {
			if strings.Contains(v, "session_key") {
				t.Errorf("ConfigMap %s key %s sets mcp.session_key; it is a secret", cm.Name, k)
			}
		}
	}

	// Voluntary disruptions leave a replica serving.
	pdb := one(t, "PodDisruptionBudget", m.pdbs)
	if ma := pdb.Spec.MinAvailable; ma == nil || ma.Type != intstr.Int || ma.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", ma)
	}
	if pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget sets maxUnavailable %v too", pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("PodDisruptionBudget selects no pods")
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if tmpl.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selects %s=%s, which the pods do not carry", k, v)
		}
	}
}
