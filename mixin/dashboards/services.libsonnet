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
      g.bargauge(
        'Services by backend verdict',
        'The data plane: how many Services have each verdict of the backends collector, which dials every ready endpoint from the pod network. not_answering (a ready endpoint refuses) and unreachable (some time out while others answer) page; no_access (every endpoint times out: a NetworkPolicy keeps the exporter out) does not.',
        [g.target('sum by (verdict) (max by (namespace, service, verdict) (%s == 1))' % q.m('kube_triage_service_backends_verdict', ns), '{{verdict}}')],
      ),
      g.timeseries(
        'Answering endpoints per Service',
        'Ready endpoints that answered the exporter, per Service (their last probe). Beside "Ready endpoints per Service": fewer answering than ready is a backend that is ready by the API and not serving (the table below names the port and the reason).',
        [g.target(
          'sum by (namespace, service) (max by (namespace, service, port) (%s))' % q.m('kube_triage_service_port_backends', ns + ', result="answering"'),
          '{{namespace}}/{{service}}',
        )],
        unit='short',
        min=0,
        w=16,
      ),
      g.table(
        'Ready endpoints that do not answer',
        'Per Service port, the ready endpoints whose last probe did not answer, by result: refused or error (the application: ServiceEndpointsNotAnswering), timeout or unreachable (the network or a NetworkPolicy: ServiceEndpointsUnreachable where others answer). The exporter\'s /probes page names the endpoints.',
        [g.target('max by (namespace, service, port, result) (%s > 0)' % q.m('kube_triage_service_port_backends', ns + ', result!="answering"'))],
        w=24,
        hide=['Time'],
      ),
      g.table(
        'Ports whose targetPort no pod exposes',
        'Service ports whose targetPort none of the selected pods expose (ServiceTargetPortMismatch).',
        [g.target('max by (namespace, service, port) (%s == 1)' % q.m('kube_triage_service_port_target_missing', ns))],
      ),
      g.table(
        'Ports served by part of the pods',
        'Service ports that some selected pods do not expose: those pods are endpoints of the Service but serve none of this port (a canary without the port, a rollout that adds it). Value: pods missing the port. No alert; a port with no ready endpoint at all is the verdict port_no_endpoints.',
        [g.target(
          'max by (namespace, service, port) (%s > 0) unless on (namespace, service, port) max by (namespace, service, port) (%s == 1)' % [
            q.m('kube_triage_service_port_pods_missing_target', ns),
            q.m('kube_triage_service_port_target_missing', ns),
          ]
        )],
        w=12,
        hide=['Time'],
      ),
      g.table(
        'Ready endpoints per port',
        'Ready endpoints that serve each port of the Services with more than one port: a port at 0 while another serves refuses its clients (port_no_endpoints).',
        [g.target(
          'max by (namespace, service, port) (%s) and on (namespace, service) count by (namespace, service) (max by (namespace, service, port) (%s)) > 1' % [
            q.m('kube_triage_service_port_endpoints', ns + ', condition="ready"'),
            q.m('kube_triage_service_port_endpoints', ns + ', condition="ready"'),
          ]
        )],
        w=12,
        hide=['Time'],
      ),
      g.table(
        'Scaled to zero',
        'Services whose selector matches no pod but the template of a workload scaled to zero: empty on purpose (verdict scaled_to_zero), no alert.',
        [g.target('max by (namespace, service, workload_kind, workload) (%s == 1)' % q.m('kube_triage_service_scaled_to_zero', ns))],
        w=8,
      ),
      g.table(
        'Services over several workloads',
        'Services whose selector matches the pods of more than one controller: a canary, or a selector wider than meant. No alert.',
        [g.target('max by (namespace, service) (%s) > 1' % q.m('kube_triage_service_selected_workloads', ns))],
        w=8,
        hide=['Time'],
      ),
      g.table(
        'Ready endpoints lost (last hour)',
        'Times each Service went from some ready endpoints to none in the last hour; 3 or more is ServiceEndpointsFlapping.',
        [g.target('max by (namespace, service) (increase(%s[1h])) > 0' % q.m('kube_triage_service_ready_endpoints_lost_total', ns))],
        w=8,
        hide=['Time'],
      ),
      g.table(
        'Local traffic policy: nodes with a local endpoint',
        'Services with externalTrafficPolicy or internalTrafficPolicy Local, and how many nodes have a ready endpoint of them: traffic of that kind reaching any other node is dropped there (ServiceLocalTrafficPolicyGap).',
        [g.target('max by (namespace, service, traffic_policy) (%s)' % q.m('kube_triage_service_local_endpoint_nodes', ns))],
        w=24,
        hide=['Time'],
      ),
    ],
  )
