// Package deploy holds tsmcp's deployment files: deploy/ecs (an ECS
// Fargate task definition and a CloudFormation template) and deploy/k8s (a
// kustomize base and an EKS overlay). It has no code; its tests decode
// every manifest strictly into the real API types (k8s.io/api, the AWS
// SDK's ECS types) and check the deployment invariants, build the
// kustomizations, and build the binary exactly as the repository's
// Dockerfile does.
package deploy
