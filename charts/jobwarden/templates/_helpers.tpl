{{/* Names and labels shared by the templates. */}}

{{- define "jobwarden.name" -}}jobwarden{{- end -}}

{{- define "jobwarden.fullname" -}}
{{- if contains "jobwarden" .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-jobwarden" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jobwarden.labels" -}}
app.kubernetes.io/name: jobwarden
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jobwarden
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "jobwarden.selectorLabels" -}}
app.kubernetes.io/name: jobwarden
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "jobwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jobwarden.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jobwarden.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Fixed: the operator's Role may read and update only this Secret (rbac/operator.yaml). */}}
{{- define "jobwarden.webhookSecret" -}}jobwarden-webhook-tls{{- end -}}

{{/* Whether the cluster serves the Prometheus Operator's API. */}}
{{- define "jobwarden.hasMonitoring" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}
