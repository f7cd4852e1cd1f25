{{/* Names, labels and the few computed values shared by the templates. */}}

{{- define "arbiter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "arbiter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service's name; 63 characters at most like every Service name. */}}
{{- define "arbiter.headlessName" -}}
{{- printf "%s-headless" (include "arbiter.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "arbiter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "arbiter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arbiter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "arbiter.labels" -}}
helm.sh/chart: {{ include "arbiter.chart" . }}
{{ include "arbiter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: policy-decision-point
app.kubernetes.io/part-of: arbiter
{{- end }}

{{- define "arbiter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "arbiter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "arbiter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Value of the server's decision_log.path for decisionLog.destination. */}}
{{- define "arbiter.decisionLogPath" -}}
{{- if eq .Values.decisionLog.destination "stdout" }}-
{{- else if eq .Values.decisionLog.destination "volume" }}
{{- printf "%s/%s" (trimSuffix "/" .Values.decisionLog.volume.mountPath) .Values.decisionLog.volume.fileName }}
{{- end }}
{{- end }}

{{/* The TLS Secret: tls.secretName, or <fullname>-tls (what the optional Certificate writes). */}}
{{- define "arbiter.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "arbiter.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* Where the TLS Secret is mounted; the config's file names point into it. */}}
{{- define "arbiter.tlsDir" -}}/etc/arbiter/tls{{- end }}

{{/* Where the client CA bundle is mounted when tls.clientCA names its own object. */}}
{{- define "arbiter.clientCaDir" -}}/etc/arbiter/client-ca{{- end }}

{{/* config tls.client_ca_file: in the client-CA mount, or the TLS Secret's ca.crt. */}}
{{- define "arbiter.clientCaFile" -}}
{{- $ca := .Values.tls.clientCA }}
{{- if and $ca.configMapName $ca.secretName }}
{{- fail "tls.clientCA: set configMapName or secretName, not both" }}
{{- else if or $ca.configMapName $ca.secretName }}
{{- printf "%s/%s" (include "arbiter.clientCaDir" .) $ca.key }}
{{- else }}
{{- printf "%s/ca.crt" (include "arbiter.tlsDir" .) }}
{{- end }}
{{- end }}

{{/* authz.anonymous_role: authz.anonymousRole, or none with TLS and engine without. */}}
{{- define "arbiter.anonymousRole" -}}
{{- if .Values.authz.anonymousRole }}{{ .Values.authz.anonymousRole }}
{{- else if .Values.tls.enabled }}none
{{- else }}engine
{{- end }}
{{- end }}

{{/* The DNS names of the Services, for the Certificate and the ServiceMonitor's serverName. */}}
{{- define "arbiter.serviceDnsNames" -}}
{{- $names := list (include "arbiter.fullname" .) }}
{{- if .Values.service.headless }}
{{- $names = append $names (include "arbiter.headlessName" .) }}
{{- end }}
{{- $out := list }}
{{- range $names }}
{{- $out = concat $out (list . (printf "%s.%s" . $.Release.Namespace) (printf "%s.%s.svc" . $.Release.Namespace) (printf "%s.%s.svc.cluster.local" . $.Release.Namespace)) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The server configuration file: .Values.config plus what the chart decides from other values:
decision_log.path and .redact, http.health_listen, tls, authz.
*/}}
{{- define "arbiter.configYaml" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $log := deepCopy (default dict $cfg.decision_log) }}
{{- $_ := set $log "path" (include "arbiter.decisionLogPath" .) }}
{{- with .Values.decisionLog.redact }}
{{- $_ := set $log "redact" . }}
{{- end }}
{{- $_ := set $cfg "decision_log" $log }}
{{- $http := deepCopy (default dict $cfg.http) }}
{{- $_ := set $http "health_listen" (printf "0.0.0.0:%d" (int .Values.ports.health)) }}
{{- $_ := set $cfg "http" $http }}
{{- if .Values.tls.enabled }}
{{- $dir := include "arbiter.tlsDir" . }}
{{- $_ := set $cfg "tls" (dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "client_ca_file" (include "arbiter.clientCaFile" .) "client_auth" .Values.tls.clientAuth) }}
{{- end }}
{{- $_ := set $cfg "authz" (dict "identities" (default list .Values.authz.identities) "anonymous_role" (include "arbiter.anonymousRole" .) "bundle_roots" (default list .Values.authz.bundleRoots)) }}
{{- toYaml $cfg }}
{{- end }}

{{/* Seconds the server may drain: config.server.drain_timeout_seconds (server default 20). */}}
{{- define "arbiter.drainSeconds" -}}
{{- $server := default dict .Values.config.server }}
{{- if hasKey $server "drain_timeout_seconds" }}{{ int $server.drain_timeout_seconds }}{{ else }}20{{ end }}
{{- end }}

{{/* terminationGracePeriodSeconds: larger than preStop sleep + drain, or rendering fails. */}}
{{- define "arbiter.terminationGracePeriodSeconds" -}}
{{- $floor := add (int .Values.preStopSleepSeconds) (int (include "arbiter.drainSeconds" .)) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $floor 10 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $floor) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than preStopSleepSeconds + config.server.drain_timeout_seconds (%d), or the kubelet kills Arbiter before it has drained" (int .Values.terminationGracePeriodSeconds) (int $floor)) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The bundle files for bundle.source=configMap, as a dict: bundle path -> content. From the chart's
policies/ directory (the chart can read only files inside itself), then bundle.files on top.
Hidden files (.gitkeep) are skipped.
*/}}
{{- define "arbiter.bundleFiles" -}}
{{- $files := dict }}
{{- range $path, $bytes := .Files.Glob "policies/**" }}
{{- $rel := trimPrefix "policies/" $path }}
{{- if not (hasPrefix "." (base $rel)) }}
{{- $_ := set $files $rel (toString $bytes) }}
{{- end }}
{{- end }}
{{- range $rel, $content := .Values.bundle.files }}
{{- $_ := set $files (trimPrefix "/" $rel) $content }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/* A ConfigMap key for a bundle path: the key cannot hold "/", so "/" becomes "__". */}}
{{- define "arbiter.bundleKey" -}}
{{- replace "/" "__" . }}
{{- end }}
