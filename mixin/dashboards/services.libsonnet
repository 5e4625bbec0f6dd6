// kube-triage / Services: the "Debug Services" verdicts, beside the alerts
// that name them (alerts/services.libsonnet). Every Service counts once,
// however many replicas of the cluster exporter report it.
function(config)
  local g = (import '../lib/grafana.libsonnet')(config);
  local q = g.q;
  local ns = 'namespace=~"$namespace"';

  g.dashboard(
    'kube-triage-services',
    'kube-triage / Services',
    "The Debug Services guide as a dashboard: the verdict of every Service, its endpoints over time, the namespaces in trouble. From kube-triage-exporter's services collector.",
    ['services'],
    variables=[g.namespaceVariable('kube_triage_service_info')],
    panels=[
      g.bargauge(
        'Services by verdict',
        'How many Services have each verdict of the Debug Services guide. Anything but ok and no_selector needs a look.',
        [g.target('sum by (verdict) (max by (namespace, service, verdict) (%s == 1))' % q.m('kube_triage_service_verdict', ns), '{{verdict}}')],
      ),
      g.table(
        'Services that need a look',
        'Every Service whose verdict is not ok: the verdict names the guide step that failed. See the runbooks in docs/runbooks/.',
        [g.target('max by (namespace, service, verdict) (%s == 1)' % q.m('kube_triage_service_verdict', ns + ', verdict!~"ok|no_selector"'))],
        w=16,
      ),
      g.bargauge(
        'Worst namespaces',
        'Namespaces with the most Services whose verdict is not ok.',
        [g.target('topk(10, count by (namespace) (max by (namespace, service) (%s == 1)))' % q.m('kube_triage_service_verdict', 'verdict!~"ok|no_selector"'), '{{namespace}}')],
        showLegend=false,
      ),
      g.timeseries(
        'Ready endpoints per Service',
        'Ready endpoints of each Service over time, all address families summed. A line that drops to 0 is a Service that stopped serving.',
        [g.target(
          'sum by (namespace, service) (max by (namespace, service, address_type) (%s))' % q.m('kube_triage_service_endpoints', ns + ', condition="ready"'),
          '{{namespace}}/{{service}}',
        )],
        unit='short',
        min=0,
        w=16,
      ),
      g.timeseries(
        'Not-ready and terminating endpoints',
        'Endpoints that exist but do not serve: not ready (failing readiness probes) and terminating (a rollout or a scale-down).',
        [g.target(
          'sum by (condition) (max by (namespace, service, address_type, condition) (%s))' % q.m('kube_triage_service_endpoints', ns + ', condition=~"not_ready|terminating"'),
          '{{condition}}',
        )],
        unit='short',
        min=0,
        legend='list',
      ),
      g.table(
        'Ports whose targetPort no pod exposes',
        'Service ports whose targetPort none of the selected pods expose (ServiceTargetPortMismatch).',
        [g.target('max by (namespace, service, port) (%s == 1)' % q.m('kube_triage_service_port_target_missing', ns))],
      ),
    ],
  )
