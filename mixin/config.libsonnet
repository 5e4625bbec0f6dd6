// The mixin's settings. Override any of them in your own jsonnet:
//
//   (import 'kube-triage-mixin/mixin.libsonnet') + {
//     _config+:: { clusterLabel: 'k8s_cluster', kubeTriageSelector: 'job=~"kube-triage.*"' },
//   }
//
// The files shipped in alerts/, dashboards/ and deploy/ are this mixin
// rendered with these defaults (`make generate`).
local guide = import 'lib/guide.libsonnet';

{
  _config+:: {
    // The label that tells clusters apart when one ruler (Thanos Ruler,
    // Mimir, a central Prometheus) sees many. Every aggregation and join
    // keeps it and every alert carries it; series without it are one
    // cluster. kubernetes-mixin's default.
    clusterLabel: 'cluster',

    // The labels Prometheus puts on every series of a target. The rules
    // learn an exporter's role and node by joining its series to its own
    // kube_triage_exporter_info on these (and the cluster label), so they
    // need no label from the scrape config.
    targetLabels: ['job', 'instance'],

    // Narrows every selector of the exporter's series and of `up`, e.g.
    // 'job=~"kube-triage-exporter.*"'. Empty: the metric names alone, which
    // are unique to this exporter, so any scrape config works.
    kubeTriageSelector: '',

    // Where each alert's runbook_url points: <base><AlertName>.md.
    runbookURLBase: guide.runbookURLBase,

    // Where the alerts that name a Service, a workload, a node or the
    // control plane link their triage_url annotation: the cluster
    // exporter's address as people reach it (an Ingress, a port-forward),
    // to which /triage/service/<namespace>/<service>,
    // /triage/workload/<namespace>/<kind>/<name> or /triage/cluster is
    // added. An alert annotation is a template: one ruler over many
    // clusters names each cluster's, e.g.
    // 'https://kube-triage.{{ $labels.cluster }}.example.com'. Empty: no
    // triage_url.
    triageURLBase: '',

    // Severity and `for` of each alert. An alert that inhibits others (see
    // alertmanager/inhibit.libsonnet) must not wait longer than they do.
    alerts: {
      KubeAPIServerDown: { severity: 'critical', 'for': '1m' },
      KubeAPIServerStorageDown: { severity: 'critical', 'for': '1m' },
      KubeControlPlaneLeaderLost: { severity: 'critical', 'for': '1m' },
      KubeNodeShutdown: { severity: 'warning', 'for': '1m' },
      KubeNodePartitioned: { severity: 'warning', 'for': '1m' },
      KubeletFault: { severity: 'warning', 'for': '1m' },
      KubeProxyUnhealthy: { severity: 'warning', 'for': '5m' },
      KubeProxyServiceVIPUnreachable: { severity: 'warning', 'for': '5m' },
      KubeServicesMassDeleted: { severity: 'warning', 'for': '1m' },
      ServiceSelectorMatchesNothing: { severity: 'warning', 'for': '5m' },
      ServiceNoReadyEndpoints: { severity: 'critical', 'for': '5m' },
      ServiceTargetPortMismatch: { severity: 'warning', 'for': '5m' },
      ServiceEndpointsFlapping: { severity: 'warning', 'for': null },
      ServiceLocalTrafficPolicyGap: { severity: 'warning', 'for': '15m' },
      ServiceEndpointsNotAnswering: { severity: 'warning', 'for': '5m' },
      ServiceEndpointsUnreachable: { severity: 'warning', 'for': '5m' },
      ClusterDNSDown: { severity: 'critical', 'for': '2m' },
      DNSEndpointFailing: { severity: 'warning', 'for': '5m' },
      DNSFailingFromNode: { severity: 'warning', 'for': '5m' },
      DNSNodeLocalCacheFailing: { severity: 'warning', 'for': '5m' },
      DNSWrongAnswer: { severity: 'warning', 'for': '5m' },
      DNSLatencyHigh: { severity: 'warning', 'for': '10m' },
      DNSNameVanished: { severity: 'warning', 'for': '5m' },
      ContainerOOMKilled: { severity: 'warning', 'for': null },
      ContainerCrashLooping: { severity: 'warning', 'for': '15m' },
      WorkloadTerminationRateHigh: { severity: 'warning', 'for': '5m' },
      ImagePullFailing: { severity: 'warning', 'for': '10m' },
      PodsEvicted: { severity: 'warning', 'for': null },
      JobFailing: { severity: 'warning', 'for': null },
      // One exporter target down: severity. No cluster-role exporter
      // reporting at all in a cluster (its Lease, Service and workload
      // alerts are all silent): absentSeverity.
      KubeTriageExporterDown: { severity: 'warning', absentSeverity: 'critical', 'for': '10m' },
      KubeTriageCollectorFailing: { severity: 'warning', 'for': '15m' },
      KubeTriageProbesStale: { severity: 'warning', 'for': '5m' },
      KubeTriageWatchFailing: { severity: 'warning', 'for': '15m' },
      KubeTriageMisconfigured: { severity: 'warning', 'for': '15m' },
    },

    thresholds: {
      // A node Lease older than this is stale (the node controller's
      // default grace period is 40s). The triage walks judge with the same
      // value (internal/guide); a fleet that changes it passes the same to
      // the triage command's --node-lease-stale.
      nodeLeaseStaleSeconds: guide.nodeLeaseStaleSeconds,
      // Lease-based alerts trust the exporter's cache only once the
      // apiserver has been ready from the cluster exporter for this long.
      apiserverReadyFor: '3m',
      // Share of vantage points failing that makes the apiserver (or cluster
      // DNS) down rather than one node's problem.
      apiserverDownFraction: 0.5,
      dnsDownFraction: 0.5,
      dnsLatencySeconds: 0.5,
      dnsNameVanishedLookback: '1h',
      // KubeServicesMassDeleted: this share of the Services gone within the
      // window, in a cluster with at least minServices.
      massDeletedFraction: 0.3,
      massDeletedWindow: '15m',
      massDeletedMinServices: 10,
      // ServiceEndpointsFlapping: the Service lost all its ready endpoints
      // this many times within the window.
      flappingLosses: 3,
      flappingWindow: '1h',
      // WorkloadTerminationRateHigh: more than `min` non-Completed
      // terminations in 10 minutes and `factor` times the hour before.
      terminationRateFactor: 3,
      terminationRateMin: 5,
      // A pod walk fails on a container that died within this window.
      oomWindow: guide.recentDeath,
      evictionWindow: '15m',
      jobFailingWindow: '30m',
      // Waiting reasons come and go between back-offs (a crash-looping
      // container runs for seconds; ErrImagePull alternates with
      // ImagePullBackOff): the alerts look at the maximum over this window.
      waitingWindow: '5m',
      // kube-proxy alerts only on nodes where it answered within this
      // window (not on clusters that replace kube-proxy).
      kubeProxySeenWindow: '1d',
      // A prober whose last round is older than this many intervals is stale.
      probesStaleIntervals: 3,
      // A cluster whose cluster-role exporter reported within this window and
      // no longer does pages (KubeTriageExporterDown); after it, a
      // decommissioned cluster stops paging.
      clusterExporterMemory: '1d',
    },

    // Grafana.
    dashboards: {
      tags: ['kube-triage', 'kubernetes'],
      refresh: '30s',
      timeFrom: 'now-6h',
      // Show the cluster picker. Harmless with one cluster: it is empty and
      // every query then matches the series without the cluster label.
      showMultiCluster: true,
    },
  },
}
