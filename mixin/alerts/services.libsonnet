// Service alerts: the "Debug Services" guide's verdicts that need a person.
// Each names the failing layer; its runbook walks the guide from there. A
// Service annotated kube-triage.io/expected-empty: "true" never fires.
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local c = config.clusterLabel,
  local t = config.thresholds,
  local guide = import '../lib/guide.libsonnet',
  local svc = q.by(['namespace', 'service']),
  // Services annotated as empty on purpose.
  local expectedEmpty = 'unless on (%s)\nmax by (%s) (%s == 1)' % [svc, svc, q.m('kube_triage_service_expected_empty')],
  local verdict(v) = 'max by (%s) (%s == 1)\n%s\n' % [svc, q.m('kube_triage_service_verdict', 'verdict=~"%s"' % v), expectedEmpty],
  local backendVerdict(v) = 'max by (%s) (%s == 1)\n' % [svc, q.m('kube_triage_service_backends_verdict', 'verdict=~"%s"' % v)],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-services',
        rules: [
          a.alert(
            'ServiceSelectorMatchesNothing',
            verdict(guide.raising(guide.serviceVerdicts, 'ServiceSelectorMatchesNothing')),
            'Service {{ $labels.namespace }}/{{ $labels.service }} selects no pod.',
            |||
              The selector of Service {{ $labels.namespace }}/{{ $labels.service }} has matched no
              running pod for %s, so it has no endpoints and every client gets connection
              refused or a timeout. Usually an operator error: a typo in the selector or a pod label
              changed by a deploy. If the Service is empty on purpose, annotate it
              kube-triage.io/expected-empty="true".
            ||| % a.forText('ServiceSelectorMatchesNothing'),
          ),
          // Grouped by Service only, so that a verdict that changes (pods
          // not ready, then no endpoints) does not restart the for.
          a.alert(
            'ServiceNoReadyEndpoints',
            verdict(guide.raising(guide.serviceVerdicts, 'ServiceNoReadyEndpoints')),
            'Service {{ $labels.namespace }}/{{ $labels.service }} has no ready endpoints (on some port).',
            |||
              Service {{ $labels.namespace }}/{{ $labels.service }} has had no ready endpoint, on all its
              ports or on one, for %(for)s; its verdict is now
              {{ with printf "max by (verdict) (kube_triage_service_verdict{%(sel)s%(c)s='%%s',namespace='%%s',service='%%s'} == 1)" $labels.%(c)s $labels.namespace $labels.service | query }}{{ . | first | label "verdict" }}{{ end }}.
              pods_not_ready: its pods exist but none passes its readiness probe; read the pods'
              events and probe settings. no_endpoints: its pods are ready (or it has no selector)
              yet no ready endpoint is published; look at the EndpointSlice controller in
              kube-controller-manager, or at whoever manages its endpoints. port_no_endpoints:
              the pods that expose one port's targetPort are not ready, so that
              port refuses every client while the others serve
              (kube_triage_service_port_endpoints).
            ||| % {
              'for': a.forText('ServiceNoReadyEndpoints'),
              c: c,
              sel: if config.kubeTriageSelector == '' then '' else std.strReplace(config.kubeTriageSelector, '"', "'") + ',',
            },
          ),
          a.alert(
            'ServiceTargetPortMismatch',
            |||
              max by (%(port)s) (%(missing)s == 1)
              %(expectedEmpty)s
            ||| % { port: q.by(['namespace', 'service', 'port']), missing: q.m('kube_triage_service_port_target_missing'), expectedEmpty: expectedEmpty },
            'Service {{ $labels.namespace }}/{{ $labels.service }} port {{ $labels.port }} targets a port no pod exposes.',
            |||
              The targetPort of port {{ $labels.port }} of Service {{ $labels.namespace }}/{{ $labels.service }}
              is exposed by none of the pods its selector matches: traffic to that port reaches
              nothing. Compare the Service's targetPort with the pods' containerPorts (names must
              match exactly).
            |||,
          ),
          // Flapping: the Service keeps losing every ready endpoint and
          // getting them back (readiness probes too tight, a dependency
          // that comes and goes, pods OOM-killed in turn).
          a.alert(
            'ServiceEndpointsFlapping',
            |||
              max by (%(svc)s) (increase(%(lost)s[%(window)s])) >= %(losses)s
              %(expectedEmpty)s
            ||| % { svc: svc, lost: q.m('kube_triage_service_ready_endpoints_lost_total'), window: t.flappingWindow, losses: t.flappingLosses, expectedEmpty: expectedEmpty },
            'Service {{ $labels.namespace }}/{{ $labels.service }} keeps losing all its ready endpoints.',
            |||
              Service {{ $labels.namespace }}/{{ $labels.service }} went from ready endpoints to none
              {{ $value | humanize }} times in %(last)s, and back each time: too short to page as
              ServiceNoReadyEndpoints, long enough for its clients to fail each time. Readiness
              probes too tight for the load, a dependency that comes and goes, or pods killed in
              turn (OOM, evictions).
            ||| % { last: a.last(t.flappingWindow) },
          ),
          // The data plane: ready endpoints that do not answer the
          // exporter's connections (the backends collector). Grouped by
          // Service, across the replicas (each probes every endpoint in
          // turn): any replica's verdict.
          a.alert(
            'ServiceEndpointsNotAnswering',
            backendVerdict(guide.raising(guide.backendVerdicts, 'ServiceEndpointsNotAnswering')),
            'Ready endpoints of Service {{ $labels.namespace }}/{{ $labels.service }} refuse connections.',
            |||
              Some ready endpoints of Service {{ $labels.namespace }}/{{ $labels.service }} have refused
              the exporter's connections (or answered wrong: HTTP 5xx, a failed TLS handshake,
              no answer once connected) for %s, while their readiness passes: clients that land
              on them fail. Nothing listens on the port the
              EndpointSlice names: the process is down or on another port, and the readiness
              probe checks something else (a sidecar, another port).
              kube_triage_service_port_backends says which port; /probes and triage service name
              the endpoints.
            ||| % a.forText('ServiceEndpointsNotAnswering'),
          ),
          a.alert(
            'ServiceEndpointsUnreachable',
            backendVerdict(guide.raising(guide.backendVerdicts, 'ServiceEndpointsUnreachable')),
            'Ready endpoints of Service {{ $labels.namespace }}/{{ $labels.service }} are unreachable over the network.',
            |||
              Some ready endpoints of Service {{ $labels.namespace }}/{{ $labels.service }} have timed out
              or had no route for %s, while other endpoints of the same port answer the exporter
              (or the Service is annotated kube-triage.io/probe-backends: "true"): the network
              between the exporter and those pods drops their traffic. The CNI between nodes
              (are the failing endpoints on one node?), a NetworkPolicy that admits only some of
              the pods, or a node that is going away.
            ||| % a.forText('ServiceEndpointsUnreachable'),
          ),
          // Local traffic policies: a node without a ready endpoint of its
          // own drops that traffic. For internalTrafficPolicy Local, every
          // ready node where ordinary pods run may run clients; for externalTrafficPolicy Local on a
          // NodePort Service, every node may get clients (a LoadBalancer's
          // health check steers away from nodes without an endpoint).
          a.alert(
            'ServiceLocalTrafficPolicyGap',
            |||
              (
                count by (%(c)s) (
                  max by (%(c)s, node) (%(readyNodes)s) == 1
                  and on (%(c)s, node) max by (%(c)s, node) (%(schedulable)s) == 1
                )
                - on (%(c)s) group_right
                max by (%(svc)s) (
                  %(internal)s
                  or (%(external)s and on (%(svc)s) %(nodePort)s)
                )
              ) > 0
              unless on (%(svc)s) max by (%(svc)s) (%(anyLocal)s) == 0
              %(expectedEmpty)s
            ||| % {
              c: c,
              svc: svc,
              readyNodes: q.m('kube_triage_node_condition', 'condition="Ready", status="true"'),
              schedulable: q.m('kube_triage_node_schedulable'),
              internal: q.m('kube_triage_service_local_endpoint_nodes', 'traffic_policy="internal"'),
              external: q.m('kube_triage_service_local_endpoint_nodes', 'traffic_policy="external"'),
              nodePort: q.m('kube_triage_service_info', 'type="NodePort"'),
              anyLocal: q.m('kube_triage_service_local_endpoint_nodes'),
              expectedEmpty: expectedEmpty,
            },
            'Service {{ $labels.namespace }}/{{ $labels.service }} drops its Local traffic on {{ $value }} node(s).',
            |||
              Service {{ $labels.namespace }}/{{ $labels.service }} has a Local traffic policy and no ready
              endpoint on {{ $value }} of the cluster's ready, schedulable nodes, for %s: connections that reach
              those nodes (from pods there, with internalTrafficPolicy Local; from outside, with
              externalTrafficPolicy Local on a NodePort) are dropped, not forwarded. Run its pods on
              every node (a DaemonSet), or drop the Local policy.
            ||| % a.forText('ServiceLocalTrafficPolicyGap'),
          ),
        ],
      },
    ],
  },
}
