{{/* Names: the release's full name, kept short enough for "<fullname>-statistics" and a pod suffix. */}}
{{- define "tweetstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "tweetstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object of the release carries; the selector labels pick the release's pods. */}}
{{- define "tweetstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tweetstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tweetstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tweetstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tweetstream
{{- end -}}

{{/* The Secret every secret setting is read from. */}}
{{- define "tweetstream.secretName" -}}
{{- default (printf "%s-secrets" (include "tweetstream.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The application image, pinned: repository@digest, else repository:tag (never empty, never latest). */}}
{{- define "tweetstream.image" -}}
{{- $tag := required "image.tag must be set: the chart pins the image" .Values.image.tag | toString -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag latest is refused: pin a version (setup.cfg's) or a digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The settings the ConfigMap holds: values' `config`, without those left empty. */}}
{{- define "tweetstream.configData" -}}
{{- range $name, $value := .Values.config }}
{{- if ne (toString $value) "" }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A secret setting read from the release's Secret. Arguments: (list $ "SETTING"). */}}
{{- define "tweetstream.secretEnv" -}}
{{- $root := index . 0 -}}
{{- $setting := index . 1 -}}
- name: {{ $setting }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tweetstream.secretName" $root }}
      key: {{ required (printf "secrets.keys.%s must name the Secret's key" $setting) (index $root.Values.secrets.keys $setting) }}
{{- end -}}

{{/* Pod-level fields every workload shares. */}}
{{- define "tweetstream.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The /tmp emptyDir (the root filesystem is read-only). */}}
{{- define "tweetstream.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* The in-cluster (stage) RabbitMQ and PostgreSQL: their Service names. */}}
{{- define "tweetstream.rabbitmqHost" -}}
{{- printf "%s-rabbitmq" (include "tweetstream.fullname" .) -}}
{{- end -}}
{{- define "tweetstream.postgresqlHost" -}}
{{- printf "%s-postgresql" (include "tweetstream.fullname" .) -}}
{{- end -}}

{{/* Replicas a service runs at least: the filter's minimum when an autoscaler drives it. */}}
{{- define "tweetstream.minReplicas" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if and (eq $name "filter") $root.Values.keda.enabled -}}
{{- $root.Values.keda.minReplicaCount -}}
{{- else if and (eq $name "filter") $root.Values.autoscaling.filter.enabled -}}
{{- $root.Values.autoscaling.filter.minReplicas -}}
{{- else -}}
{{- (index $root.Values.services $name).replicas -}}
{{- end -}}
{{- end -}}

{{/* Whether an autoscaler (HPA or KEDA) sets the service's replicas. */}}
{{- define "tweetstream.autoscaled" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if and (eq $name "filter") (or $root.Values.keda.enabled $root.Values.autoscaling.filter.enabled) -}}true{{- end -}}
{{- end -}}

{{/* The in-cluster (stage) RabbitMQ and PostgreSQL pods: non-root, as the images' own uid. */}}
{{- define "tweetstream.infraPodSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.inCluster.runAsUser }}
runAsGroup: {{ .Values.inCluster.runAsUser }}
fsGroup: {{ .Values.inCluster.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
