// Recording rules: the vantage points the alerts and dashboards compare,
// and a memory of every exporter target's role and node that outlives the
// target going down (a dead exporter exports nothing to say what it was).
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),

  prometheusRules+:: {
    groups+: [
      {
        name: 'kube-triage-recording',
        rules: [
          {
            // 1 where the vantage point gets an HTTP answer from the apiserver.
            record: 'vantage:kube_triage_apiserver_reachable:max',
            expr: q.vantage(q.m('kube_triage_apiserver_reachable')),
          },
          {
            // 1 where the guide's control name resolves through the DNS Service.
            record: 'vantage:kube_triage_dns_probe_success:control',
            expr: q.vantage(q.m('kube_triage_dns_probe_success', 'server_kind="service", name="kubernetes.default"')),
          },
          {
            // Every exporter target with its role (and node agents' node),
            // kept while the target is still discovered but down (up 0).
            // It ends when the target leaves service discovery.
            record: 'target:kube_triage_exporter_info:last',
            expr: |||
              max by (%(target)s, role, node) (%(node)s)
              or
              max by (%(target)s, role) (%(cluster)s)
              or
              max by (%(target)s, role, node) (
                target:kube_triage_exporter_info:last
                and on (%(target)s)
                %(up)s == 0
              )
            ||| % { target: q.target, node: q.roleInfo('node'), cluster: q.roleInfo('cluster'), up: q.m('up') },
          },
        ],
      },
    ],
  },
}
