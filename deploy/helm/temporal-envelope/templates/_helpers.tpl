{{/* Names and labels, the usual Helm way. */}}
{{- define "temporal-envelope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "temporal-envelope.fullname" -}}
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

{{- define "temporal-envelope.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "temporal-envelope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "temporal-envelope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "temporal-envelope.labels" -}}
helm.sh/chart: {{ include "temporal-envelope.chart" . }}
{{ include "temporal-envelope.selectorLabels" . }}
app.kubernetes.io/component: codec-server
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "temporal-envelope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "temporal-envelope.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "temporal-envelope.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Where things are mounted in the server container: one place, used by the config and the Deployment. */}}
{{- define "temporal-envelope.configDir" -}}/etc/temporal-envelope{{- end }}
{{- define "temporal-envelope.kmsKeyConfigDir" -}}/etc/temporal-envelope-kms{{- end }}
{{- define "temporal-envelope.tlsDir" -}}/etc/temporal-envelope-tls{{- end }}
{{- define "temporal-envelope.keyringSecretDir" -}}/etc/temporal-envelope-keyring-secret{{- end }}
{{/* The image's own keyring path (TEMPORAL_ENVELOPE_KEYRING in deploy/Dockerfile). */}}
{{- define "temporal-envelope.keyringDir" -}}/var/lib/temporal-envelope{{- end }}

{{- define "temporal-envelope.keyringSecretName" -}}
{{- default (printf "%s-keyring" (include "temporal-envelope.fullname" .)) .Values.keys.local.existingSecret }}
{{- end }}

{{- define "temporal-envelope.kmsKeyConfigMapName" -}}
{{- default (printf "%s-kms-keys" (include "temporal-envelope.fullname" .)) .Values.keys.awsKms.keyConfig.existingConfigMap }}
{{- end }}

{{/* Whether the key config file (rather than inline keys) names the KMS keys. */}}
{{- define "temporal-envelope.usesKmsKeyConfig" -}}
{{- if and (eq .Values.keys.provider "aws-kms") (or .Values.keys.awsKms.keyConfig.existingConfigMap .Values.keys.awsKms.keyConfig.document) }}true{{- end }}
{{- end }}

{{/* The most replicas that can run at once, and the fewest the Deployment is meant to keep. */}}
{{- define "temporal-envelope.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.maxReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}
{{- define "temporal-envelope.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
The server's config file, built from values: the one place that maps values to config paths. The
server validates it at start-up (src/config/schema.ts); the chart's tests run it through the same
validator for every example. Host and the file paths are the chart's, not values: they must match
the Deployment's mounts.
*/}}
{{- define "temporal-envelope.serverConfig" -}}
{{- $v := .Values }}
{{- $server := dict "host" "0.0.0.0" "port" $v.server.port "trustProxy" $v.server.trustProxy "bodyLimitBytes" $v.server.bodyLimitBytes "maxPayloadsPerRequest" $v.server.maxPayloadsPerRequest "requestTimeoutMs" $v.server.requestTimeoutMs "shutdownGraceMs" $v.server.shutdownGraceMs }}
{{- if $v.server.tls.enabled }}
{{- $dir := include "temporal-envelope.tlsDir" . }}
{{- $_ := set $server "tls" (dict "certFile" (printf "%s/tls.crt" $dir) "keyFile" (printf "%s/tls.key" $dir)) }}
{{- end }}
{{- $auth := dict "staticTokens" $v.auth.staticTokens "session" (dict "enabled" $v.auth.session.enabled "ttlSeconds" $v.auth.session.ttlSeconds) }}
{{- if $v.auth.jwt }}
{{- $_ := set $auth "jwt" $v.auth.jwt }}
{{- end }}
{{- $keys := dict "provider" $v.keys.provider }}
{{- if eq $v.keys.provider "local" }}
{{- $_ := set $keys "local" (dict "path" (printf "%s/keyring.json" (include "temporal-envelope.keyringDir" .))) }}
{{- else }}
{{- $kms := dict "requestTimeoutMs" $v.keys.awsKms.requestTimeoutMs }}
{{- with $v.keys.awsKms.region }}{{ $_ := set $kms "region" . }}{{ end }}
{{- with $v.keys.awsKms.endpoint }}{{ $_ := set $kms "endpoint" . }}{{ end }}
{{- if include "temporal-envelope.usesKmsKeyConfig" . }}
{{- $_ := set $kms "keyConfigFile" (printf "%s/%s" (include "temporal-envelope.kmsKeyConfigDir" .) $v.keys.awsKms.keyConfig.configMapKey) }}
{{- else }}
{{- $_ := set $kms "keys" $v.keys.awsKms.keys }}
{{- end }}
{{- $_ := set $keys "awsKms" $kms }}
{{- end }}
{{- $config := dict "server" $server "cors" (dict "origins" $v.cors.origins) "auth" $auth "policy" (dict "onDeny" $v.policy.onDeny "rules" $v.policy.rules) "keys" $keys "codec" $v.codec "rateLimit" $v.rateLimit "log" $v.log }}
{{- toYaml $config }}
{{- end }}

{{/*
Combinations values.schema.json cannot express, refused with a message naming the values to change.
Included by the ConfigMap, so every render runs it.
*/}}
{{- define "temporal-envelope.validate" -}}
{{- $v := .Values }}
{{- if eq $v.keys.provider "aws-kms" }}
{{- $sources := list }}
{{- if $v.keys.awsKms.keys }}{{ $sources = append $sources "keys.awsKms.keys" }}{{ end }}
{{- if $v.keys.awsKms.keyConfig.existingConfigMap }}{{ $sources = append $sources "keys.awsKms.keyConfig.existingConfigMap" }}{{ end }}
{{- if $v.keys.awsKms.keyConfig.document }}{{ $sources = append $sources "keys.awsKms.keyConfig.document" }}{{ end }}
{{- if eq (len $sources) 0 }}
{{- fail "keys.provider aws-kms needs its KMS keys: keys.awsKms.keys (inline, primary first), keys.awsKms.keyConfig.existingConfigMap (a key config file you manage) or keys.awsKms.keyConfig.document (see examples/aws-kms-irsa-oidc.yaml)" }}
{{- end }}
{{- if gt (len $sources) 1 }}
{{- fail (printf "keys.provider aws-kms takes its KMS keys from one place, got %s: keep one" (join " and " $sources)) }}
{{- end }}
{{- if not $v.keys.awsKms.region }}
{{- fail "keys.awsKms.region is required with keys.provider aws-kms (the KMS keys' region, e.g. eu-west-1; the SDK also asks STS there for IRSA credentials)" }}
{{- end }}
{{- end }}
{{- if and $v.server.tls.enabled (not $v.server.tls.existingSecret) }}
{{- fail "server.tls.enabled needs server.tls.existingSecret: a kubernetes.io/tls Secret with tls.crt and tls.key" }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- $max := int (include "temporal-envelope.maxReplicas" .) }}
{{- if and (gt $max 1) $v.auth.session.enabled (not $v.auth.session.existingSecret) }}
{{- fail (printf "auth.session.existingSecret is required with up to %d replicas while auth.session.enabled: every replica must accept the others' session cookies (create the Secret as values.yaml shows, or set auth.session.enabled=false when the UI passes OIDC access tokens)" $max) }}
{{- end }}
{{- $pdb := $v.podDisruptionBudget }}
{{- if and $pdb.enabled (hasKey $pdb "minAvailable") (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "string" $pdb.minAvailable)) }}
{{- $min := int (include "temporal-envelope.minReplicas" .) }}
{{- if ge (int $pdb.minAvailable) $min }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below the replica count (%d), or no pod can ever be evicted and node drains hang; lower it or use maxUnavailable" (int $pdb.minAvailable) $min) }}
{{- end }}
{{- end }}
{{- $drainSeconds := add (div (add (int64 $v.server.shutdownGraceMs) 999) 1000) (int64 $v.preStopSleepSeconds) }}
{{- if ge $drainSeconds (int64 $v.terminationGracePeriodSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + server.shutdownGraceMs (%d s), or Kubernetes kills pods mid-drain" (int64 $v.terminationGracePeriodSeconds) $drainSeconds) }}
{{- end }}
{{- end }}
