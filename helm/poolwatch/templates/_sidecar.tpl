{{/*
The poolwatch sidecar, for this chart's bundle Deployment and for other charts (inject mode).

The templates take poolwatch's own top-level object. A chart that has poolwatch as a dependency
(Helm >= 3.7) passes `.Subcharts.poolwatch`, so .Values, .Chart (name and versions) and
.Capabilities are poolwatch's without pinning anything by hand:

  # Chart.yaml: dependencies: [{name: poolwatch, version: 0.2.x, repository: ..., condition: poolwatch.enabled}]
  spec:
    terminationGracePeriodSeconds: {{ include "poolwatch.sidecar.terminationGrace" (dict "poolwatch" .Subcharts.poolwatch "seconds" 60) }}
    template:
      metadata:
        annotations:
          checksum/poolwatch: {{ include "poolwatch.checksum" .Subcharts.poolwatch }}
    containers:
      {{- include "poolwatch.sidecar.container" .Subcharts.poolwatch | nindent 4 }}
    volumes:
      {{- include "poolwatch.sidecar.volumes" .Subcharts.poolwatch | nindent 4 }}

With nativeSidecar.enabled the container carries `restartPolicy: Always` and belongs under
initContainers instead. "poolwatch.sidecar.container" renders one list item with its own
securityContext (uid 65532, seccomp RuntimeDefault: the host pod's are not ours); the
"poolwatch.sidecar.volumes" list holds the config, secrets (mode 0444: readable without an
fsGroup, and mounted only into this container) and a writable /tmp and state dir (the root
filesystem is read-only).
*/}}

{{/* A checksum of everything the sidecar reads that the chart renders: its config and the
Secrets it makes. Put it in the pod template's annotations so a change rolls the pods. */}}
{{- define "poolwatch.checksum" -}}
{{- printf "%s\n%s" (include "poolwatch.configContent" .) (include "poolwatch.secretData" .) | sha256sum -}}
{{- end -}}

{{/* The host pod's terminationGracePeriodSeconds, checked against the sidecar's preStop wait:
include "poolwatch.sidecar.terminationGrace" (dict "poolwatch" .Subcharts.poolwatch "seconds" 60) */}}
{{- define "poolwatch.sidecar.terminationGrace" -}}
{{- $v := .poolwatch.Values -}}
{{- if and (not $v.nativeSidecar.enabled) (le (int .seconds) (int $v.preStopSleepSeconds)) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than poolwatch's preStopSleepSeconds (%v), or the kubelet kills poolwatch before PgBouncer has drained" .seconds $v.preStopSleepSeconds) -}}
{{- end -}}
{{- .seconds -}}
{{- end -}}

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
{{- if include "poolwatch.webConfigEnabled" . }}
    - --web.config.file=/etc/poolwatch/web/web-config.yml
{{- end }}
{{- with .Values.extraArgs }}
{{ toYaml . | indent 4 }}
{{- end }}
  ports:
    - name: {{ .Values.portName }}
      containerPort: {{ .Values.port }}
      protocol: TCP
  env:
    # Identity in a fleet: external_labels and ${POD_NAME} in target names (README "Fleet").
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
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
{{ include "poolwatch.probe" (dict "probe" . "root" $) | indent 4 }}
{{- end }}
{{- with .Values.readinessProbe }}
  readinessProbe:
{{ include "poolwatch.probe" (dict "probe" . "root" $) | indent 4 }}
{{- end }}
{{- with .Values.startupProbe }}
  startupProbe:
{{ include "poolwatch.probe" (dict "probe" . "root" $) | indent 4 }}
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
    {{- include "poolwatch.sidecar.volumeMounts" . | nindent 4 }}
{{- end -}}

{{- define "poolwatch.sidecar.volumes" -}}
- name: poolwatch-config
  configMap:
    name: {{ include "poolwatch.configMapName" . }}
{{- if not .Values.auth.passwordFile }}
- name: poolwatch-auth
  secret:
    secretName: {{ include "poolwatch.authSecretName" . }}
    defaultMode: 292  # 0444: readable without an fsGroup; only this container mounts it
    items:
      - key: {{ .Values.auth.passwordKey }}
        path: {{ .Values.auth.passwordKey }}
{{- end }}
{{- if .Values.alerting.slack.enabled }}
- name: poolwatch-slack
  secret:
    secretName: {{ include "poolwatch.slackSecretName" . }}
    defaultMode: 292  # 0444: readable without an fsGroup; only this container mounts it
    items:
      - key: {{ .Values.alerting.slack.key }}
        path: {{ .Values.alerting.slack.key }}
{{- end }}
{{- if and .Values.postgres.enabled .Values.postgres.existingSecret }}
- name: poolwatch-postgres
  secret:
    secretName: {{ .Values.postgres.existingSecret }}
    defaultMode: 292  # 0444: readable without an fsGroup; only this container mounts it
    items:
      - key: {{ .Values.postgres.passwordKey }}
        path: {{ .Values.postgres.passwordKey }}
{{- end }}
{{- if include "poolwatch.webConfigEnabled" . }}
- name: poolwatch-web
  secret:
    secretName: {{ include "poolwatch.webSecretName" . }}
    defaultMode: 292  # 0444
    items:
      - key: web-config.yml
        path: web-config.yml
{{- end }}
{{- if .Values.web.tls.enabled }}
- name: poolwatch-tls
  secret:
    secretName: {{ .Values.web.tls.existingSecret }}
    defaultMode: 292  # 0444: the key must be readable by uid 65532 without an fsGroup
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
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


{{/* The sidecar's volume mounts (also used by the helm test's --check-config container). */}}
{{- define "poolwatch.sidecar.volumeMounts" -}}
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
{{- if include "poolwatch.webConfigEnabled" . }}
- name: poolwatch-web
  mountPath: /etc/poolwatch/web
  readOnly: true
{{- end }}
{{- if .Values.web.tls.enabled }}
- name: poolwatch-tls
  mountPath: /etc/poolwatch/tls
  readOnly: true
{{- end }}
- name: poolwatch-state
  mountPath: /var/lib/poolwatch
- name: poolwatch-tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}
