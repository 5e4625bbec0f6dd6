// kube-triage / DNS: the "Debug DNS Resolution" steps, beside the alerts
// that name them (alerts/dns.libsonnet). The control lookup by vantage
// point comes from its recording rule.
function(config)
  local g = (import '../lib/grafana.libsonnet')(config);
  local q = g.q;

  g.dashboard(
    'kube-triage-dns',
    'kube-triage / DNS',
    "The guide's DNS steps as a dashboard: does the control name resolve, through the Service and through each DNS pod, from every node; how long; at what search-path cost. From kube-triage-exporter's dns collector.",
    ['dns'],
    [
      g.timeseries(
        'Control lookup success by vantage point',
        'kubernetes.default through the DNS Service, from the cluster exporter and each node agent (node label). A single line at 0 is DNSFailingFromNode; all lines at 0 is ClusterDNSDown.',
        [g.target(g.namedVantage(g.recorded('vantage:kube_triage_dns_probe_success:control')), '{{node}}')],
        unit='percentunit',
      ),
      g.timeseries(
        'Control lookup success by DNS pod',
        'kubernetes.default through each DNS endpoint directly, worst vantage point. A pod at 0 while the Service answers is DNSEndpointFailing.',
        [g.target('min by (server) (%s)' % q.m('kube_triage_dns_probe_success', 'server_kind="endpoint", name="kubernetes.default"'), '{{server}}')],
        unit='percentunit',
      ),
      g.timeseries(
        'Lookup latency by server',
        'How long the control lookup takes (search list included), worst vantage point per server.',
        [g.target('max by (server) (%s)' % q.m('kube_triage_dns_probe_duration_seconds', 'name="kubernetes.default"'), '{{server}}')],
        unit='s',
      ),
      g.timeseries(
        'Lookup results per second',
        'All lookups by result: NXDOMAIN and SERVFAIL rates, timeouts, wrong answers.',
        // Summed over every prober, replicas included: each makes its own
        // lookups.
        [g.target('sum by (result) (rate(%s[$__rate_interval]))' % q.m('kube_triage_dns_probes_total', 'result!="success"'), '{{result}}')],
        unit='ops',
      ),
      g.timeseries(
        'Search-path cost',
        'Queries and NXDOMAINs a lookup takes through the search list (ndots): the price pods pay for short names.',
        [
          g.target('max by (name) (%s)' % q.m('kube_triage_dns_probe_queries', 'server_kind="service"'), 'queries {{name}}'),
          g.target('max by (name) (%s)' % q.m('kube_triage_dns_probe_nxdomains', 'server_kind="service"'), 'NXDOMAIN {{name}}'),
        ],
        unit='short',
      ),
      g.table(
        'Failing lookups now',
        'Every server and name whose last lookup did not succeed, with the result.',
        [g.target('max by (server, name, result) (%s == 1)' % q.m('kube_triage_dns_probe_result', 'result!="success"'))],
      ),
      // The sweep (--collector.dns.sweep-interval) has no alert: a name
      // that stops resolving while the control case works is often a
      // Service being replaced; this table is where a person looks.
      g.table(
        'Services whose name does not resolve',
        "With the DNS sweep on (--collector.dns.sweep-interval), every Service whose FQDN failed in the last sweep through the DNS Service, with the result: a stale CoreDNS cache or watch (stale_answer, wrong_answer), a Service CoreDNS does not know (nxdomain). Empty when the sweep is off or every name resolves.",
        [g.target('max by (namespace, service, result) (%s == 1)' % q.m('kube_triage_dns_sweep_failing'))],
      ),
    ],
  )
