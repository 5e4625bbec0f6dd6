// kube-triage-exporter's monitoring mixin: alerts, recording rules,
// Grafana dashboards and Alertmanager inhibition rules, configured by
// config.libsonnet. Render with jsonnet (or mixtool):
//   prometheusAlerts, prometheusRules  Prometheus rule groups
//   grafanaDashboards                  file name -> dashboard
//   alertmanagerConfig                 { inhibit_rules: [...] }
(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'alertmanager/inhibit.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
