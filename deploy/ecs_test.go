package deploy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The task definition is the input of `aws ecs register-task-definition
// --cli-input-json file://deploy/ecs/task-definition.json`: the API's
// RegisterTaskDefinitionInput with lowerCamel keys. It is decoded into the
// SDK's type with unknown fields refused and every key spelled exactly as
// lowerCamel(GoFieldName).
func loadTaskDefinition(t *testing.T) *ecs.RegisterTaskDefinitionInput {
	t.Helper()
	var td ecs.RegisterTaskDefinitionInput
	if err := decodeStrictJSON(readFile(t, "deploy/ecs/task-definition.json"), &td, lowerCamel); err != nil {
		t.Fatalf("task-definition.json: %v", err)
	}
	return &td
}

func TestECSTaskDefinition(t *testing.T) {
	td := loadTaskDefinition(t)
	if td.NetworkMode != ecstypes.NetworkModeAwsvpc {
		t.Errorf("networkMode = %q, want awsvpc", td.NetworkMode)
	}
	if !slices.Equal(td.RequiresCompatibilities, []ecstypes.Compatibility{ecstypes.CompatibilityFargate}) {
		t.Errorf("requiresCompatibilities = %v, want [FARGATE]", td.RequiresCompatibilities)
	}
	if td.TaskRoleArn == nil || td.ExecutionRoleArn == nil {
		t.Error("taskRoleArn (SSM state) and executionRoleArn (auth key secret, logs) are both needed")
	}
	checkContainer(t, "task-definition.json", td)
}

// checkContainer asserts the invariants of the tsmcp container, shared by
// the JSON task definition and the CloudFormation one.
func checkContainer(t *testing.T, where string, td *ecs.RegisterTaskDefinitionInput) {
	t.Helper()
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%s: want one container, have %d", where, len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]

	// The config tsmcp serve would load from this environment.
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[deref(kv.Name)] = deref(kv.Value)
	}
	// The image is the ECS image (make image-ecs): the runtime image with
	// deploy/ecs/tsmcp.yaml baked in at the path serve reads; the task's
	// TSMCP_* variables override it per deployment.
	if !slices.Equal(c.Command, []string{"serve", "--config", "/etc/tsmcp/tsmcp.yaml"}) {
		t.Errorf("%s: command = %q, want [serve --config /etc/tsmcp/tsmcp.yaml] (the config baked in by make image-ecs)", where, c.Command)
	}
	cfg := loadConfig(t, "tsmcp.yaml", string(readFile(t, "deploy/ecs/tsmcp.yaml")), env)

	// Secrets never in plaintext.
	for name, v := range env {
		if isAuthKeyVar(name) {
			t.Errorf("%s: %s is a plaintext environment variable; use secrets/valueFrom", where, name)
		}
		if strings.Contains(v, "tskey-") {
			t.Errorf("%s: environment %s holds a Tailscale key", where, name)
		}
	}
	var authKeyFrom string
	for _, s := range c.Secrets {
		if deref(s.Name) == "TS_AUTHKEY" {
			authKeyFrom = deref(s.ValueFrom)
		}
	}
	if !strings.HasPrefix(authKeyFrom, "arn:aws:secretsmanager:") && !strings.HasPrefix(authKeyFrom, "ref:") {
		t.Errorf("%s: TS_AUTHKEY valueFrom = %q, want a Secrets Manager ARN", where, authKeyFrom)
	}

	// State in SSM, so that the task keeps its node identity.
	if !strings.HasPrefix(cfg.Tailnet.State, "arn:aws:ssm:") {
		t.Errorf("%s: tailnet.state = %q, want an SSM parameter ARN", where, cfg.Tailnet.State)
	}

	// Health check through the binary (the image has no shell or curl).
	if c.HealthCheck == nil || !slices.Equal(c.HealthCheck.Command, []string{"CMD", "/tsmcp", "health"}) {
		t.Errorf("%s: healthCheck = %+v, want [CMD /tsmcp health]", where, c.HealthCheck)
	} else if sp := c.HealthCheck.StartPeriod; sp == nil || time.Duration(*sp)*time.Second < 30*time.Second {
		t.Errorf("%s: healthCheck startPeriod %v leaves no time to join the tailnet", where, sp)
	}
	if len(c.PortMappings) != 1 || deref(c.PortMappings[0].ContainerPort) != int32(portOf(t, cfg.Health.Addr)) {
		t.Errorf("%s: portMappings %+v, want only the health port (%s)", where, c.PortMappings, cfg.Health.Addr)
	}

	// SIGKILL only after tsmcp's own drain.
	if st := c.StopTimeout; st == nil || time.Duration(*st)*time.Second <= cfg.MCP.ShutdownGrace+tsnetCloseMargin {
		t.Errorf("%s: stopTimeout = %v, want more than mcp.shutdown_grace %v + %v", where, st, cfg.MCP.ShutdownGrace, tsnetCloseMargin)
	}

	// Non-root, read-only root, no capabilities.
	if u := deref(c.User); u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("%s: user = %q, want a non-root uid", where, u)
	}
	if c.ReadonlyRootFilesystem == nil || !*c.ReadonlyRootFilesystem {
		t.Errorf("%s: readonlyRootFilesystem is not true", where)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if c.LinuxParameters == nil || c.LinuxParameters.Capabilities == nil || !slices.Equal(c.LinuxParameters.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: capabilities are not dropped", where)
	}
	// tsnet's temporary Dir must be on a writable volume.
	tmp := env["TMPDIR"]
	if tmp == "" {
		tmp = "/tmp"
	}
	var writable bool
	for _, mp := range c.MountPoints {
		writable = writable || (deref(mp.ContainerPath) == tmp && (mp.ReadOnly == nil || !*mp.ReadOnly))
	}
	if !writable {
		t.Errorf("%s: TMPDIR %s is not a writable mount point", where, tmp)
	}

	if c.LogConfiguration == nil || c.LogConfiguration.LogDriver != ecstypes.LogDriverAwslogs {
		t.Errorf("%s: log driver is not awslogs", where)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
