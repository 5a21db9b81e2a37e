{{/*
The poolwatch sidecar, for this chart's bundle Deployment and for other charts (inject mode).

Both templates take a root-like context: .Values (poolwatch's values), .Release, .Chart and
.Capabilities. From a chart that has poolwatch as a dependency:

  containers:
    {{- include "poolwatch.sidecar.container" (dict "Values" .Values.poolwatch "Release" .Release "Chart" (dict "Name" "poolwatch" "Version" "0.1.0" "AppVersion" "0.1.0") "Capabilities" .Capabilities) | nindent 4 }}
  volumes:
    {{- include "poolwatch.sidecar.volumes" (dict "Values" .Values.poolwatch "Release" .Release "Chart" (dict "Name" "poolwatch" "Version" "0.1.0" "AppVersion" "0.1.0") "Capabilities" .Capabilities) | nindent 4 }}

With nativeSidecar.enabled the container carries `restartPolicy: Always` and belongs under
initContainers instead. "poolwatch.sidecar.container" renders one list item; the
"poolwatch.sidecar.volumes" list holds the config, secrets and a writable /tmp and state dir
(the root filesystem is read-only).
*/}}

{{- define "poolwatch.sidecar.container" -}}
- name: poolwatch
  image: {{ include "poolwatch.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- if .Values.nativeSidecar.enabled }}
  restartPolicy: Always
{{- end }}
  args:
    - --config.file=/etc/poolwatch/config/poolwatch.yaml
    - --web.listen-address=:{{ .Values.port }}
{{- with .Values.extraArgs }}
{{ toYaml . | indent 4 }}
{{- end }}
  ports:
    - name: http
      containerPort: {{ .Values.port }}
      protocol: TCP
  env:
    - name: POOLWATCH_PGBOUNCER_USER
{{- if and .Values.auth.existingSecret .Values.auth.userKey }}
      valueFrom:
        secretKeyRef:
          name: {{ .Values.auth.existingSecret }}
          key: {{ .Values.auth.userKey }}
{{- else }}
      value: {{ .Values.auth.username | quote }}
{{- end }}
{{- with .Values.extraEnvs }}
{{ toYaml . | indent 4 }}
{{- end }}
{{- with .Values.livenessProbe }}
  livenessProbe:
{{ toYaml . | indent 4 }}
{{- end }}
{{- with .Values.readinessProbe }}
  readinessProbe:
{{ toYaml . | indent 4 }}
{{- end }}
{{- with .Values.startupProbe }}
  startupProbe:
{{ toYaml . | indent 4 }}
{{- end }}
{{- if not .Values.nativeSidecar.enabled }}
  lifecycle:
    preStop:
      exec:
        # The image has no shell: its static health-check helper also knows how to wait.
        command: ["/usr/local/bin/poolwatch-healthcheck", "--sleep", "{{ .Values.preStopSleepSeconds }}"]
{{- end }}
{{- with .Values.resources }}
  resources:
{{ toYaml . | indent 4 }}
{{- end }}
{{- with .Values.securityContext }}
  securityContext:
{{ toYaml . | indent 4 }}
{{- end }}
  volumeMounts:
    - name: poolwatch-config
      mountPath: /etc/poolwatch/config
      readOnly: true
{{- if not .Values.auth.passwordFile }}
    - name: poolwatch-auth
      mountPath: /etc/poolwatch/auth
      readOnly: true
{{- end }}
{{- if .Values.alerting.slack.enabled }}
    - name: poolwatch-slack
      mountPath: /etc/poolwatch/slack
      readOnly: true
{{- end }}
{{- if and .Values.postgres.enabled .Values.postgres.existingSecret }}
    - name: poolwatch-postgres
      mountPath: /etc/poolwatch/postgres
      readOnly: true
{{- end }}
    - name: poolwatch-state
      mountPath: /var/lib/poolwatch
    - name: poolwatch-tmp
      mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . | indent 4 }}
{{- end }}
{{- end -}}

{{- define "poolwatch.sidecar.volumes" -}}
- name: poolwatch-config
  configMap:
    name: {{ include "poolwatch.configMapName" . }}
{{- if not .Values.auth.passwordFile }}
- name: poolwatch-auth
  secret:
    secretName: {{ include "poolwatch.authSecretName" . }}
    defaultMode: 288  # 0440
    items:
      - key: {{ .Values.auth.passwordKey }}
        path: {{ .Values.auth.passwordKey }}
{{- end }}
{{- if .Values.alerting.slack.enabled }}
- name: poolwatch-slack
  secret:
    secretName: {{ include "poolwatch.slackSecretName" . }}
    defaultMode: 288  # 0440
    items:
      - key: {{ .Values.alerting.slack.key }}
        path: {{ .Values.alerting.slack.key }}
{{- end }}
{{- if and .Values.postgres.enabled .Values.postgres.existingSecret }}
- name: poolwatch-postgres
  secret:
    secretName: {{ .Values.postgres.existingSecret }}
    defaultMode: 288  # 0440
    items:
      - key: {{ .Values.postgres.passwordKey }}
        path: {{ .Values.postgres.passwordKey }}
{{- end }}
- name: poolwatch-state
  emptyDir: {}
- name: poolwatch-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}
