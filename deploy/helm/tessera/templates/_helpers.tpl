{{- define "tessera.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tessera.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tessera.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tessera.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The address the edges and the probe use to reach the gRPC service. */}}
{{- define "tessera.grpcUrl" -}}
{{- if .Values.tls.enabled -}}
https://{{ include "tessera.fullname" . }}:{{ .Values.grpc.port }}
{{- else -}}
http://{{ include "tessera.fullname" . }}:{{ .Values.grpc.port }}
{{- end -}}
{{- end -}}

{{/* Environment shared by the server and the migration job: secrets only through secretKeyRef. */}}
{{- define "tessera.databaseEnv" -}}
- name: TESSERA_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.urlSecret.name }}
      key: {{ .Values.database.urlSecret.key }}
- name: TESSERA_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- end -}}
