// DNS alerts: the guide's nslookup steps, from every vantage point (the
// cluster exporter and one node agent per node). ClusterDNSDown names the
// outage once; the per-node and per-DNS-pod alerts it causes are silenced
// by the inhibition rules (alertmanager/inhibit.libsonnet), and it fires
// before they would.
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local t = config.thresholds,
  local c = config.clusterLabel,
  local control = 'vantage:kube_triage_dns_probe_success:control',

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-dns',
        rules: [
          a.alert(
            'ClusterDNSDown',
            |||
              count by (%(c)s) (%(control)s == 0)
              / count by (%(c)s) (%(control)s)
              > %(fraction)s
            ||| % { c: c, control: control, fraction: t.dnsDownFraction },
            'Cluster DNS fails from most of the cluster.',
            |||
              kubernetes.default, the guide's control name, does not resolve through the cluster
              DNS Service from {{ $value | humanizePercentage }} of the vantage points. Every
              lookup of a Service name by a pod fails the same way.
            |||,
          ),
          a.alert(
            'DNSEndpointFailing',
            'max by (%s) (%s) == 0\n' % [q.by(['server']), q.m('kube_triage_dns_probe_success', 'server_kind="endpoint", name="kubernetes.default"')],
            'DNS endpoint {{ $labels.server }} does not answer.',
            |||
              The DNS pod at {{ $labels.server }} has failed the control lookup from every vantage
              point for %s. A share of pods' lookups (those kube-proxy sends to this endpoint)
              fail or time out. If every DNS pod fails, ClusterDNSDown names the outage and
              silences this alert.
            ||| % a.forText('DNSEndpointFailing'),
          ),
          a.alert(
            'DNSFailingFromNode',
            'max by (%s) (%s{node!=""}) == 0\n' % [q.by(['node']), control],
            'Cluster DNS fails from node {{ $labels.node }}.',
            |||
              From node {{ $labels.node }} the cluster DNS Service does not answer kubernetes.default.
              When it still answers from most other nodes, the guide points at that node's
              kube-proxy (its Service rules) or its network, not at DNS; when it fails from most
              nodes, ClusterDNSDown names the outage and silences this alert.
            |||,
          ),
          a.alert(
            'DNSNodeLocalCacheFailing',
            |||
              max by (%(by)s) (
                %(agents)s
              ) == 0
            ||| % {
              by: q.by(['node', 'server']),
              agents: q.fromNodeAgents('%s == 0 and on (%s) %s == 1' % [
                q.m('kube_triage_dns_probe_success', 'server_kind="resolver", name="kubernetes.default"'),
                q.target,
                q.m('kube_triage_dns_probe_success', 'server_kind="service", name="kubernetes.default"'),
              ]),
            },
            'The node-local DNS cache {{ $labels.server }} on node {{ $labels.node }} fails.',
            |||
              On node {{ $labels.node }}, kubernetes.default does not resolve through
              {{ $labels.server }}, the nameserver in the pods' resolv.conf (a node-local DNS cache,
              NodeLocal DNSCache), while the cluster DNS Service answers from the same node: every
              lookup of the pods on that node fails, and DNS itself is fine.
            |||,
          ),
          a.alert(
            'DNSWrongAnswer',
            'min by (%s) (%s) == 0\n' % [q.by(['server', 'name']), q.m('kube_triage_dns_probe_answer_matches', 'server_kind!="resolver"')],
            'DNS answers {{ $labels.name }} with an address that is not its Service\'s ClusterIP.',
            |||
              Through {{ $labels.server }}, {{ $labels.name }} resolves to an address other than
              the Service's ClusterIP: a stale cache, a stub domain or hosts entry shadowing the
              cluster domain, or a DNS pod that lost its watch on the apiserver.
            |||,
          ),
          a.alert(
            'DNSLatencyHigh',
            'max by (%s) (avg_over_time(%s[5m])) > %s\n' % [q.by(['server', 'name']), q.m('kube_triage_dns_probe_duration_seconds', 'server_kind!="resolver", name="kubernetes.default"'), t.dnsLatencySeconds],
            'DNS lookups through {{ $labels.server }} take {{ $value | humanizeDuration }}.',
            |||
              Resolving {{ $labels.name }} through {{ $labels.server }} (search list included) has
              averaged over %(latency)ss for %(for)s. Pods with ndots:5 make several such
              lookups per request.
            ||| % { latency: t.dnsLatencySeconds, 'for': a.forText('DNSLatencyHigh') },
          ),
          a.alert(
            'DNSNameVanished',
            |||
              max by (%(name)s) (%(nx)s == 1)
              and on (%(name)s)
              max by (%(name)s) (max_over_time(%(svc)s[%(lookback)s] offset 10m)) == 1
            ||| % {
              name: q.by(['name']),
              nx: q.m('kube_triage_dns_probe_result', 'server_kind="service", result="nxdomain"'),
              svc: q.m('kube_triage_dns_probe_success', 'server_kind="service"'),
              lookback: t.dnsNameVanishedLookback,
            },
            '{{ $labels.name }} resolved before and is now NXDOMAIN.',
            |||
              {{ $labels.name }} resolved through the cluster DNS Service within %s and
              now answers NXDOMAIN: its Service was deleted or renamed, or moved namespace. Clients
              that still use the name fail.
            ||| % a.last(t.dnsNameVanishedLookback),
          ),
        ],
      },
    ],
  },
}
