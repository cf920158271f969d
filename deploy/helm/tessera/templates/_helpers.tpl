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

{{/* The name the probes and the edges expect in the server's certificate. */}}
{{- define "tessera.tlsServerName" -}}
{{- .Values.tls.serverName | default (include "tessera.fullname" .) -}}
{{- end -}}

{{/* Whether clients must present a certificate (mutual TLS). */}}
{{- define "tessera.mtls" -}}
{{- if and .Values.tls.enabled .Values.tls.clientCaKey }}true{{ end -}}
{{- end -}}

{{/* Mounts of a pod that calls the gRPC service over TLS: the CA (only that key of its Secret,
     never the server's private key) and, under mutual TLS, the client certificate. */}}
{{- define "tessera.clientTlsMounts" -}}
{{- if .Values.tls.enabled }}
- name: tessera-ca
  mountPath: /etc/tessera/ca
  readOnly: true
{{- if include "tessera.mtls" . }}
- name: client-tls
  mountPath: /etc/tessera/client
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "tessera.clientTlsVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tessera-ca
  secret:
    secretName: {{ .Values.tls.ca.secretName | default .Values.tls.secretName }}
    items:
      - key: {{ .Values.tls.ca.key }}
        path: ca.crt
{{- if include "tessera.mtls" . }}
- name: client-tls
  secret:
    secretName: {{ .Values.tls.clientCertSecret }}
    # Readable by the pod's fsGroup only.
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* An edge's TLS settings for its calls to the gRPC service. */}}
{{- define "tessera.clientTlsEnv" -}}
{{- if .Values.tls.enabled }}
- name: TESSERA_CA
  value: /etc/tessera/ca/ca.crt
{{- if include "tessera.mtls" . }}
- name: TESSERA_CERT
  value: /etc/tessera/client/tls.crt
- name: TESSERA_KEY
  value: /etc/tessera/client/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* `tessera health` over TLS, as the in-pod probes run it. */}}
{{- define "tessera.healthCommand" -}}
["tessera", "health", "--server", "https://127.0.0.1:{{ .Values.grpc.port }}", "--ca", "/etc/tessera/ca/ca.crt", "--tls-server-name", {{ include "tessera.tlsServerName" . | quote }}{{ if include "tessera.mtls" . }}, "--cert", "/etc/tessera/client/tls.crt", "--key", "/etc/tessera/client/tls.key"{{ end }}
{{- end -}}
