// Alertmanager inhibition rules: a cause silences its consequences in the
// same cluster (and, for a node, on the same node). Each cause fires no
// later than what it silences (its `for` is no longer: a test checks it),
// or the consequences would notify first.
{
  local c = $._config.clusterLabel,

  // The rules as data: which alerts silence which, on which labels.
  inhibitions:: [
    {
      // The apiserver down or its etcd lost: no Lease can be renewed, no
      // endpoint updated, and CoreDNS pods that restart cannot load the
      // cluster's names.
      sources: ['KubeAPIServerDown', 'KubeAPIServerStorageDown'],
      targets: [
        'KubeControlPlaneLeaderLost',
        'KubeNodeShutdown',
        'KubeNodePartitioned',
        'KubeletFault',
        'KubeServicesMassDeleted',
        'ServiceSelectorMatchesNothing',
        'ServiceNoReadyEndpoints',
        'ServiceTargetPortMismatch',
        'ServiceLocalTrafficPolicyGap',
        'ClusterDNSDown',
        'DNSEndpointFailing',
        'DNSFailingFromNode',
        'DNSWrongAnswer',
        'DNSLatencyHigh',
        'DNSNameVanished',
        'KubeTriageWatchFailing',
        'KubeTriageProbesStale',
      ],
      equal: [c],
    },
    {
      // Cluster DNS down: every node and every DNS pod fails the same way.
      sources: ['ClusterDNSDown'],
      targets: ['DNSEndpointFailing', 'DNSFailingFromNode', 'DNSLatencyHigh'],
      equal: [c],
    },
    {
      // A node shut down or cut off: its kube-proxy, DNS, kubelet and
      // agent are unreachable with it.
      sources: ['KubeNodeShutdown', 'KubeNodePartitioned'],
      targets: [
        'KubeletFault',
        'KubeProxyUnhealthy',
        'KubeProxyServiceVIPUnreachable',
        'DNSFailingFromNode',
        'DNSNodeLocalCacheFailing',
        'KubeTriageExporterDown',
      ],
      equal: [c, 'node'],
    },
    {
      // A stuck prober: its collector reports failure because its results
      // are stale; the stale alert says why.
      sources: ['KubeTriageProbesStale'],
      targets: ['KubeTriageCollectorFailing'],
      equal: [c, 'role', 'collector'],
    },
    {
      // No cluster exporter left in a cluster (critical): the replicas'
      // own down alerts say nothing more.
      sources: ['KubeTriageExporterDown'],
      sourceMatchers: ['severity="critical"'],
      targets: ['KubeTriageExporterDown'],
      targetMatchers: ['severity="warning"', 'role="cluster"'],
      equal: [c],
    },
  ],

  // The same in Alertmanager's configuration format.
  alertmanagerConfig+:: {
    inhibit_rules+: [
      {
        source_matchers: ['alertname=~"%s"' % std.join('|', i.sources)] + std.get(i, 'sourceMatchers', []),
        target_matchers: ['alertname=~"%s"' % std.join('|', i.targets)] + std.get(i, 'targetMatchers', []),
        equal: i.equal,
      }
      for i in $.inhibitions
    ],
  },
}
