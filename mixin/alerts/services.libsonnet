// Service alerts: the "Debug Services" guide's verdicts that need a person.
// Each names the failing layer; its runbook walks the guide from there. A
// Service annotated kube-triage.io/expected-empty: "true" never fires.
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local c = config.clusterLabel,
  local svc = q.by(['namespace', 'service']),
  // Services annotated as empty on purpose.
  local expectedEmpty = 'unless on (%s)\nmax by (%s) (%s == 1)' % [svc, svc, q.m('kube_triage_service_expected_empty')],
  local verdict(v) = 'max by (%s) (%s == 1)\n%s\n' % [svc, q.m('kube_triage_service_verdict', 'verdict=~"%s"' % v), expectedEmpty],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-services',
        rules: [
          a.alert(
            'ServiceSelectorMatchesNothing',
            verdict('selector_matches_nothing'),
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
            verdict('pods_not_ready|no_endpoints'),
            'Service {{ $labels.namespace }}/{{ $labels.service }} has no ready endpoints.',
            |||
              Service {{ $labels.namespace }}/{{ $labels.service }} has had no ready endpoint for %(for)s;
              its verdict is now
              {{ with printf "max by (verdict) (kube_triage_service_verdict{%(sel)s%(c)s='%%s',namespace='%%s',service='%%s'} == 1)" $labels.%(c)s $labels.namespace $labels.service | query }}{{ . | first | label "verdict" }}{{ end }}.
              pods_not_ready: its pods exist but none passes its readiness probe; read the pods'
              events and probe settings. no_endpoints: its pods are ready (or it has no selector)
              yet no ready endpoint is published; look at the EndpointSlice controller in
              kube-controller-manager, or at whoever manages its endpoints.
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
        ],
      },
    ],
  },
}
