package deploy_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tsmcp/tsmcp/internal/config"
)

// The replicated ECS variant: several tasks, each an ephemeral node
// registered with an OAuth client (state in memory), serving one Tailscale
// Service, deployed new-before-old.

func TestECSTaskDefinitionReplicated(t *testing.T) {
	td := loadTaskDefinition(t, "deploy/ecs/task-definition-replicated.json")
	if td.NetworkMode != ecstypes.NetworkModeAwsvpc || !slices.Equal(td.RequiresCompatibilities, []ecstypes.Compatibility{ecstypes.CompatibilityFargate}) {
		t.Errorf("%s %v, want awsvpc FARGATE", td.NetworkMode, td.RequiresCompatibilities)
	}
	if td.ExecutionRoleArn == nil {
		t.Error("no executionRoleArn: the secrets are read with it")
	}
	if td.TaskRoleArn != nil {
		t.Errorf("taskRoleArn %s: with in-memory state tsmcp calls no AWS API; give it no role", *td.TaskRoleArn)
	}
	checkContainer(t, "task-definition-replicated.json", td, true)
}

// checkReplicaContainer: an ephemeral tagged node from an OAuth client,
// the service and the session key, no state to share between tasks.
func checkReplicaContainer(t *testing.T, where string, c ecstypes.ContainerDefinition, cfg *config.Config) {
	t.Helper()
	if cfg.Tailnet.State != "mem:" || !cfg.Tailnet.Ephemeral {
		t.Errorf("%s: tailnet.state %q, ephemeral %v: want mem: and ephemeral (a new node per task, none sharing a state)", where, cfg.Tailnet.State, cfg.Tailnet.Ephemeral)
	}
	if !cfg.Tailnet.IsOAuthClientSecret() {
		t.Errorf("%s: the auth key is not an OAuth client secret: a task must mint its own ephemeral key at every start", where)
	}
	if len(cfg.Tailnet.Tags) == 0 {
		t.Errorf("%s: no tailnet.tags; service hosts are tagged nodes", where)
	}
	f, ok := configField(cfg.Tailnet, "service")
	if !ok {
		t.Fatal("internal/config has no tailnet.service (issue 15)")
	}
	svc := f.String()
	if !serviceNameRE.MatchString(svc) {
		t.Errorf("%s: tailnet.service = %q, want svc:<name>", where, svc)
	}
	// Every task registers with the same hostname; the control plane makes
	// the node names unique (name, name-1, …), and tsmcp serves under the
	// name it was given. The service's own name must not be taken by a
	// node.
	if cfg.Tailnet.Hostname == strings.TrimPrefix(svc, "svc:") {
		t.Errorf("%s: tailnet.hostname is the service's name %s: their MagicDNS names would collide", where, svc)
	}
	from := secretFrom(c, "TSMCP_MCP_SESSION_KEY")
	if !strings.HasPrefix(from, "arn:aws:secretsmanager:") && !strings.HasPrefix(from, "arn:aws:ssm:") && !strings.HasPrefix(from, "ref:") {
		t.Errorf("%s: TSMCP_MCP_SESSION_KEY valueFrom = %q, want a Secrets Manager or SSM ARN shared by every task", where, from)
	}
	for _, kv := range c.Environment {
		if deref(kv.Name) == "TSMCP_MCP_SESSION_KEY" {
			t.Errorf("%s: TSMCP_MCP_SESSION_KEY is a plaintext environment variable", where)
		}
	}
}

var cfnReplicatedExample = map[string]any{
	"ClusterArn":           "arn:aws:ecs:eu-west-1:123456789012:cluster/platform",
	"VpcId":                "vpc-0123456789abcdef0",
	"PrivateSubnetIds":     []any{"subnet-0aaa", "subnet-0bbb"},
	"Image":                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tsmcp:v0.1.0-ecs",
	"OAuthClientSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsmcp/ts-oauth-client-AbCdEf",
	"SessionKeySecretArn":  "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsmcp/session-key-GhIjKl",
}

func TestCloudFormationReplicated(t *testing.T) {
	tmpl := loadTemplate(t, "deploy/ecs/service-replicated.yaml")
	known := []string{"AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::ECS::TaskDefinition", "AWS::EC2::SecurityGroup", "AWS::ECS::Service"}
	for name, r := range tmpl.Resources {
		if !slices.Contains(known, r.Type) {
			t.Errorf("resource %s: type %s is not checked by this test", name, r.Type)
		}
	}
	e := &cfnEval{t: t, tmpl: tmpl, params: cfnReplicatedExample, conds: map[string]bool{}}

	// Two tasks, new ones started and healthy before old ones stop.
	var svc ecs.CreateServiceInput
	props(t, e, "Service", &svc)
	if n := deref(svc.DesiredCount); n < 2 {
		t.Errorf("DesiredCount = %d, want at least 2", n)
	}
	dc := svc.DeploymentConfiguration
	if dc == nil || deref(dc.MinimumHealthyPercent) != 100 || deref(dc.MaximumPercent) != 200 {
		var minH, maxP int32
		if dc != nil {
			minH, maxP = deref(dc.MinimumHealthyPercent), deref(dc.MaximumPercent)
		}
		t.Errorf("DeploymentConfiguration MinimumHealthyPercent %d, MaximumPercent %d: want 100 (never fewer healthy tasks than desired) and 200 (room for the new tasks)", minH, maxP)
	} else if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
		t.Errorf("DeploymentCircuitBreaker %+v, want enabled with rollback", cb)
	}
	nc := svc.NetworkConfiguration
	if nc == nil || nc.AwsvpcConfiguration == nil || nc.AwsvpcConfiguration.AssignPublicIp != ecstypes.AssignPublicIpDisabled {
		t.Errorf("NetworkConfiguration %+v, want awsvpc without a public IP", nc)
	} else if len(nc.AwsvpcConfiguration.Subnets) < 2 {
		t.Errorf("Subnets %v: spread the tasks over two or more", nc.AwsvpcConfiguration.Subnets)
	}
	if svc.LaunchType != ecstypes.LaunchTypeFargate || len(svc.LoadBalancers) != 0 {
		t.Errorf("LaunchType %q, LoadBalancers %v: want FARGATE and no load balancer (MCP is on the tailnet)", svc.LaunchType, svc.LoadBalancers)
	}

	var td ecs.RegisterTaskDefinitionInput
	props(t, e, "TaskDefinition", &td)
	if td.TaskRoleArn != nil {
		t.Errorf("TaskRoleArn %s: with in-memory state tsmcp calls no AWS API", *td.TaskRoleArn)
	}
	checkContainer(t, "service-replicated.yaml TaskDefinition", &td, true)
	c := td.ContainerDefinitions[0]
	if got, want := secretFrom(c, "TS_CLIENT_SECRET"), cfnReplicatedExample["OAuthClientSecretArn"]; got != want {
		t.Errorf("TS_CLIENT_SECRET from %q, want the OAuthClientSecretArn parameter", got)
	}
	if got, want := secretFrom(c, "TSMCP_MCP_SESSION_KEY"), cfnReplicatedExample["SessionKeySecretArn"]; got != want {
		t.Errorf("TSMCP_MCP_SESSION_KEY from %q, want the SessionKeySecretArn parameter", got)
	}
	sameContainer(t, loadTaskDefinition(t, "deploy/ecs/task-definition-replicated.json").ContainerDefinitions[0], c)

	// The execution role reads exactly the two secrets.
	var exec iamRole
	props(t, e, "ExecutionRole", &exec)
	want := []grant{{[]string{"secretsmanager:GetSecretValue"}, []string{cfnReplicatedExample["OAuthClientSecretArn"].(string), cfnReplicatedExample["SessionKeySecretArn"].(string)}}}
	if got := exec.grants(); !reflect.DeepEqual(got, want) {
		t.Errorf("execution role allows %v, want exactly %v", got, want)
	}
	for _, arn := range exec.ManagedPolicyArns {
		if !strings.HasSuffix(arn, ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy") {
			t.Errorf("execution role has managed policy %s", arn)
		}
	}

	// Nothing may connect to a task; outbound only what a node needs.
	var sg securityGroup
	props(t, e, "SecurityGroup", &sg)
	if len(sg.SecurityGroupIngress) != 0 {
		t.Errorf("SecurityGroupIngress %+v, want none (the health check runs in the container)", sg.SecurityGroupIngress)
	}
	if len(sg.SecurityGroupEgress) == 0 {
		t.Error("no explicit egress: the default allows everything")
	}
	for _, out := range sg.SecurityGroupEgress {
		if out.IpProtocol == "-1" {
			t.Errorf("egress %+v allows every protocol and port", out)
		}
	}
	if nc != nil && nc.AwsvpcConfiguration != nil {
		if got := fmt.Sprint(nc.AwsvpcConfiguration.SecurityGroups); got != "[ref:SecurityGroup]" {
			t.Errorf("SecurityGroups = %s, want only the template's", got)
		}
	}
}
