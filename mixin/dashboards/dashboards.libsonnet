// The Grafana dashboards, by the file name they are shipped as in
// dashboards/. Each picks its data source and its cluster through
// variables.
{
  local config = $._config,

  grafanaDashboards+:: {
    'cluster.json': (import 'cluster.libsonnet')(config),
    'dns.json': (import 'dns.libsonnet')(config),
    'services.json': (import 'services.libsonnet')(config),
    'workload-failures.json': (import 'workload-failures.libsonnet')(config),
  },
}
