{{/* The four apps, in start order. */}}
{{- define "kv-erp.apps" -}}gateway inventory accounting worker{{- end -}}

{{- define "kv-erp.name" -}}{{ .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{/* Release-scoped base name (release name alone when it already contains the chart name). */}}
{{- define "kv-erp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object except the selector ones (pod templates add kv-erp.selectorLabels). */}}
{{- define "kv-erp.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: kv-erp
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "kv-erp.labels" -}}
{{ include "kv-erp.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one app: (dict "root" $ "app" "gateway"). */}}
{{- define "kv-erp.selectorLabels" -}}
app.kubernetes.io/name: {{ .app }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "kv-erp.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .app (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "kv-erp.secretName" -}}
{{- if .Values.secrets.create -}}{{ include "kv-erp.fullname" . }}{{- else -}}{{ required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}{{- end -}}
{{- end -}}

{{- define "kv-erp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "kv-erp.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* Secret keys each app reads (least privilege: nobody but the migration Jobs gets DATABASE_OWNER_URL). */}}
{{- define "kv-erp.secretKeys" -}}
{{- $keys := dict
  "gateway" (list "DATABASE_URL" "DATABASE_SYSTEM_URL" "REDIS_URL" "INTERNAL_SECRET" "JWT_SECRET" "PLATFORM_ADMIN_PASSWORD")
  "inventory" (list "DATABASE_URL" "DATABASE_SYSTEM_URL" "DATABASE_REPLICA_URLS" "INTERNAL_SECRET")
  "accounting" (list "DATABASE_URL" "DATABASE_SYSTEM_URL" "DATABASE_REPLICA_URLS" "REDIS_URL" "INTERNAL_SECRET")
  "worker" (list "DATABASE_SYSTEM_URL" "REDIS_URL" "INTERNAL_SECRET") -}}
{{- join " " (get $keys .) -}}
{{- end -}}

{{- define "kv-erp.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
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
{{- end -}}
