{{/* Resource names: fullnameOverride, else the release name. */}}
{{- define "tsmcp.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "tsmcp.selectorLabels" -}}
app.kubernetes.io/name: tsmcp
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tsmcp.labels" -}}
{{ include "tsmcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* "true" when the release runs replicas behind a Tailscale Service. Also
checks the values that go with it. */}}
{{- define "tsmcp.replicated" -}}
{{- $n := int .Values.replicas -}}
{{- if lt $n 1 -}}
{{- fail "replicas must be at least 1" -}}
{{- end -}}
{{- if gt $n 1 -}}
{{- if not (regexMatch "^svc:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" (required "service (svc:<name>) is required when replicas > 1: the replicas serve one Tailscale Service" .Values.service)) -}}
{{- fail (printf "service %q is not svc:<name> (the name a lower-case DNS label)" .Values.service) -}}
{{- end -}}
{{- if not .Values.tags -}}
{{- fail "tags are required when replicas > 1: Tailscale Service hosts are tagged nodes" -}}
{{- end -}}
true
{{- else if .Values.service -}}
{{- fail "service is set but replicas is 1: a Tailscale Service needs replicas >= 2 here (one replica: leave service empty)" -}}
{{- end -}}
{{- end -}}

{{/* The state Secret of one replica; the argument is the pod's name. */}}
{{- define "tsmcp.stateSecretPrefix" -}}
{{ include "tsmcp.fullname" . }}-state-
{{- end -}}

{{/* The names of the state Secrets, one per line. */}}
{{- define "tsmcp.stateSecrets" -}}
{{- $full := include "tsmcp.fullname" . -}}
{{- if include "tsmcp.replicated" . -}}
{{- range $i := until (int .Values.replicas) }}
{{ $full }}-state-{{ $full }}-{{ $i }}
{{- end -}}
{{- else -}}
{{ $full }}-state
{{- end -}}
{{- end -}}

{{- define "tsmcp.authKeySecret" -}}
{{- default (printf "%s-authkey" (include "tsmcp.fullname" .)) .Values.authKey.existingSecret -}}
{{- end -}}

{{- define "tsmcp.sessionKeySecret" -}}
{{- default (printf "%s-session-key" (include "tsmcp.fullname" .)) .Values.sessionKey.existingSecret -}}
{{- end -}}
