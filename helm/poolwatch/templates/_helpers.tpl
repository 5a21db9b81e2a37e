{{/* Names, labels and shared pieces. */}}

{{- define "poolwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "poolwatch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "poolwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name (.Chart.Version | toString) | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "poolwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "poolwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "poolwatch.labels" -}}
helm.sh/chart: {{ include "poolwatch.chart" . }}
{{ include "poolwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | toString | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: poolwatch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "poolwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "poolwatch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag or @digest. Usage: include "poolwatch.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) */}}
{{- define "poolwatch.imageRef" -}}
{{- $i := .image -}}
{{- $repo := $i.repository -}}
{{- if $i.registry -}}{{- $repo = printf "%s/%s" $i.registry $i.repository -}}{{- end -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $repo $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .default ($i.tag | toString)) -}}
{{- end -}}
{{- end -}}

{{- define "poolwatch.configMapName" -}}
{{- default (printf "%s-config" (include "poolwatch.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{- define "poolwatch.authSecretName" -}}
{{- default (printf "%s-auth" (include "poolwatch.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "poolwatch.slackSecretName" -}}
{{- default (printf "%s-slack" (include "poolwatch.fullname" .)) .Values.alerting.slack.existingSecret -}}
{{- end -}}

{{/* Where the PgBouncer admin password file is, inside the container. */}}
{{- define "poolwatch.passwordFile" -}}
{{- if .Values.auth.passwordFile -}}
{{- .Values.auth.passwordFile -}}
{{- else -}}
{{- printf "/etc/poolwatch/auth/%s" .Values.auth.passwordKey -}}
{{- end -}}
{{- end -}}

{{/* Is any alert receiver on? */}}
{{- define "poolwatch.alertingEnabled" -}}
{{- if or .Values.alerting.slack.enabled .Values.alerting.alertmanager.enabled -}}true{{- end -}}
{{- end -}}

{{/* Checks that fail rendering with a message that says what to set. */}}
{{- define "poolwatch.validate" -}}
{{- if not (has .Values.mode (list "bundle" "inject")) -}}
{{- fail (printf "mode must be bundle or inject, not %q" .Values.mode) -}}
{{- end -}}
{{- if and .Values.alerting.slack.enabled (not .Values.alerting.slack.existingSecret) (not .Values.alerting.slack.webhookUrl) -}}
{{- fail "alerting.slack.enabled is true but there is no webhook: set alerting.slack.existingSecret (a Secret holding the webhook URL under alerting.slack.key) or alerting.slack.webhookUrl" -}}
{{- end -}}
{{- if and .Values.alerting.alertmanager.enabled (not .Values.alerting.alertmanager.urls) -}}
{{- fail "alerting.alertmanager.enabled is true but alerting.alertmanager.urls is empty: list every Alertmanager replica" -}}
{{- end -}}
{{- if and (not .Values.auth.existingSecret) (not .Values.auth.passwordFile) (not .Values.auth.password) (not .Values.existingConfigMap) (not .Values.config) -}}
{{- fail "no PgBouncer admin password: set auth.existingSecret (recommended), auth.passwordFile or auth.password" -}}
{{- end -}}
{{- if and .Values.nativeSidecar.enabled (not (semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version)) -}}
{{- fail (printf "nativeSidecar.enabled needs Kubernetes >= 1.29 (restartable init containers); this cluster is %s. Set nativeSidecar.enabled=false." .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- if and (not .Values.nativeSidecar.enabled) (le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than preStopSleepSeconds (%v), or the kubelet kills poolwatch before PgBouncer has drained" .Values.terminationGracePeriodSeconds .Values.preStopSleepSeconds) -}}
{{- end -}}
{{- if and (eq .Values.mode "bundle") (not .Values.pgbouncer.bundle.userlistSecret) -}}
{{- fail "mode=bundle runs PgBouncer in the pod and needs its userlist: set pgbouncer.bundle.userlistSecret (a Secret with userlist.txt)" -}}
{{- end -}}
{{- if and .Values.web.tls.enabled (not .Values.web.tls.existingSecret) (not .Values.web.existingSecret) -}}
{{- fail "web.tls.enabled needs web.tls.existingSecret: a kubernetes.io/tls Secret with tls.crt and tls.key" -}}
{{- end -}}
{{- if and .Values.web.basicAuth.enabled (not .Values.web.basicAuth.users) (not .Values.web.existingSecret) -}}
{{- fail "web.basicAuth.enabled needs web.basicAuth.users (user: bcrypt hash)" -}}
{{- end -}}
{{- if and .Values.postgres.enabled (not .Values.postgres.dsn) -}}
{{- fail "postgres.enabled is true but postgres.dsn is empty" -}}
{{- end -}}
{{- end -}}

{{/* The poolwatch config file written by the chart when neither config nor existingConfigMap is set. */}}
{{- define "poolwatch.generatedConfig" -}}
sampling:
  interval: {{ .Values.sampling.interval }}
  timeout: {{ .Values.sampling.timeout }}
{{- with .Values.externalLabels }}
external_labels:
{{- range $k, $v := . }}
  {{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}
targets:
  pgbouncer:
    - name: {{ .Values.pgbouncer.targetName | quote }}
      dsn: {{ printf "host=%s port=%v dbname=%s user=${POOLWATCH_PGBOUNCER_USER} sslmode=%s" .Values.pgbouncer.host .Values.pgbouncer.port .Values.pgbouncer.database .Values.pgbouncer.sslmode | quote }}
      password_file: {{ include "poolwatch.passwordFile" . }}
{{- if .Values.postgres.enabled }}
  postgres:
    - name: {{ .Values.postgres.targetName | quote }}
      dsn: {{ .Values.postgres.dsn | quote }}
{{- if include "poolwatch.postgresShared" . }}
      shared: true
      election_key: {{ default (printf "%s/%s/%s" .Release.Namespace (include "poolwatch.fullname" .) .Values.postgres.targetName) .Values.postgres.electionKey | quote }}
{{- end }}
{{- if .Values.postgres.existingSecret }}
      password_file: /etc/poolwatch/postgres/{{ .Values.postgres.passwordKey }}
{{- end }}
{{- end }}
{{- if include "poolwatch.alertingEnabled" . }}
alerts:
  state_file: /var/lib/poolwatch/alerts.json
{{- with .Values.alerting.dashboardUrl }}
  dashboard_url: {{ . | quote }}
{{- end }}
{{- with .Values.alerting.rules }}
  rules:
{{ toYaml . | indent 4 }}
{{- end }}
  receivers:
{{- if .Values.alerting.slack.enabled }}
    - name: slack
      slack:
        webhook_url_file: /etc/poolwatch/slack/{{ .Values.alerting.slack.key }}
        send_resolved: {{ .Values.alerting.slack.sendResolved }}
{{- end }}
{{- if .Values.alerting.alertmanager.enabled }}
    - name: alertmanager
      alertmanager:
        urls:
{{ toYaml .Values.alerting.alertmanager.urls | indent 10 }}
{{- end }}
  route:
    receivers:
{{- if .Values.alerting.slack.enabled }}
      - slack
{{- end }}
{{- if .Values.alerting.alertmanager.enabled }}
      - alertmanager
{{- end }}
{{- end }}
{{- end -}}

{{/* Is the PostgreSQL target shared by the replicas (an election, README "Fleet")? Explicit
postgres.shared wins; null means yes in inject mode (a sidecar runs in every replica of the
application) or with more than one bundle replica. */}}
{{- define "poolwatch.postgresShared" -}}
{{- $s := .Values.postgres.shared -}}
{{- if kindIs "bool" $s -}}
{{- if $s -}}true{{- end -}}
{{- else if or (eq .Values.mode "inject") (gt (int .Values.replicaCount) 1) -}}true
{{- end -}}
{{- end -}}

{{/* The config file content the ConfigMap carries. */}}
{{- define "poolwatch.configContent" -}}
{{- if .Values.config -}}
{{ tpl (toYaml .Values.config) . }}
{{- else -}}
{{ include "poolwatch.generatedConfig" . }}
{{- end -}}
{{- end -}}

{{/* What the Secrets this chart makes hold, hashed (for the checksum/secret annotation: a
rotated password or webhook URL rolls the pods). Existing Secrets are not the chart's to see. */}}
{{- define "poolwatch.secretData" -}}
{{- if and (not .Values.auth.existingSecret) (not .Values.auth.passwordFile) .Values.auth.password -}}
auth={{ .Values.auth.password | sha256sum }}
{{ end -}}
{{- if and .Values.alerting.slack.enabled (not .Values.alerting.slack.existingSecret) -}}
slack={{ .Values.alerting.slack.webhookUrl | sha256sum }}
{{ end -}}
{{- if and (include "poolwatch.webConfigEnabled" .) (not .Values.web.existingSecret) -}}
web={{ include "poolwatch.webConfig" . | sha256sum }}
{{ end -}}
{{- end -}}

{{/* Is --web.config.file in use? */}}
{{- define "poolwatch.webConfigEnabled" -}}
{{- if or .Values.web.tls.enabled .Values.web.basicAuth.enabled .Values.web.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "poolwatch.webSecretName" -}}
{{- default (printf "%s-web" (include "poolwatch.fullname" .)) .Values.web.existingSecret -}}
{{- end -}}

{{/* The web config file (exporter-toolkit style) the chart writes. */}}
{{- define "poolwatch.webConfig" -}}
{{- if .Values.web.tls.enabled }}
tls_server_config:
  cert_file: /etc/poolwatch/tls/tls.crt
  key_file: /etc/poolwatch/tls/tls.key
{{- end }}
{{- if .Values.web.basicAuth.enabled }}
basic_auth_users:
{{- range $user, $hash := .Values.web.basicAuth.users }}
  {{ $user }}: {{ $hash | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A probe, adjusted to the web config: HTTPS with TLS. With basic auth, poolwatch answers
/healthz and /readyz without credentials (kubelet sends none, and a password in httpHeaders would
sit in the pod spec; those two paths disclose nothing), so an httpGet probe on them stays as it
is; an httpGet probe on any other path without its own httpHeaders would get 401, and becomes a
tcpSocket probe on the same port. Usage: include "poolwatch.probe" (dict "probe" P "root" .) */}}
{{- define "poolwatch.probe" -}}
{{- $p := deepCopy .probe -}}
{{- $v := .root.Values -}}
{{- if hasKey $p "httpGet" -}}
{{- $open := has (toString $p.httpGet.path) (list "/healthz" "/readyz") -}}
{{- if and $v.web.basicAuth.enabled (not $open) (not (hasKey $p.httpGet "httpHeaders")) -}}
{{- $port := $p.httpGet.port -}}
{{- $_ := unset $p "httpGet" -}}
{{- $_ := set $p "tcpSocket" (dict "port" $port) -}}
{{- else if $v.web.tls.enabled -}}
{{- $_ := set $p.httpGet "scheme" "HTTPS" -}}
{{- end -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}
