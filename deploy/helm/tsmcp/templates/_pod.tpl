{{/* The pod template shared by the Deployment and the StatefulSet. */}}
{{- define "tsmcp.podTemplate" -}}
{{- $full := include "tsmcp.fullname" . -}}
{{- $replicated := include "tsmcp.replicated" . -}}
metadata:
  labels:
    {{- include "tsmcp.labels" . | nindent 4 }}
  annotations:
    # A changed config rolls the pods.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
spec:
  serviceAccountName: {{ $full }}
  automountServiceAccountToken: true
  terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
  enableServiceLinks: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: tsmcp
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve", "--config", "/etc/tsmcp/tsmcp.yaml"]
      env:
        {{- if $replicated }}
        # The pod's name: its node's hostname and its state Secret.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: TSMCP_TAILNET_HOSTNAME
          value: $(POD_NAME)
        - name: TSMCP_TAILNET_STATE
          value: kube:{{ include "tsmcp.stateSecretPrefix" . }}$(POD_NAME)
        - name: TSMCP_TAILNET_SERVICE
          value: {{ .Values.service | quote }}
        - name: TSMCP_TAILNET_SERVICE_DRAIN
          value: {{ .Values.serviceDrain | quote }}
        - name: TSMCP_MCP_SESSION_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "tsmcp.sessionKeySecret" . }}
              key: {{ .Values.sessionKey.key }}
        {{- end }}
        - name: TS_AUTHKEY
          valueFrom:
            secretKeyRef:
              name: {{ include "tsmcp.authKeySecret" . }}
              key: {{ .Values.authKey.key }}
              optional: true
        - name: TMPDIR
          value: /tmp
      ports:
        - name: health
          containerPort: {{ int .Values.healthPort }}
          protocol: TCP
      # /readyz: joined the tailnet, tools loaded (up to tailnet.up_timeout).
      startupProbe:
        httpGet:
          path: /readyz
          port: health
        periodSeconds: 2
        failureThreshold: 45
        timeoutSeconds: 2
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        periodSeconds: 5
        failureThreshold: 3
        timeoutSeconds: 2
      # /health never depends on the control plane.
      livenessProbe:
        httpGet:
          path: /health
          port: health
        periodSeconds: 10
        failureThreshold: 3
        timeoutSeconds: 2
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        runAsNonRoot: true
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        privileged: false
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: config
          mountPath: /etc/tsmcp
          readOnly: true
        - name: tmp
          mountPath: /tmp
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $replicated }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "tsmcp.selectorLabels" . | nindent 10 }}
  {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ $full }}-config
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
