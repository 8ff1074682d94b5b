{{- define "agora-operator.labels" -}}
app.kubernetes.io/name: agora-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agora
{{- end }}
{{- define "agora-operator.selector" -}}
app.kubernetes.io/name: agora-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
