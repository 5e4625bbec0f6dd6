// Watching the watcher: the exporter's own absence, failures, staleness and
// misconfiguration page, since each silences alerts of the pack.
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local t = config.thresholds,
  local c = config.clusterLabel,
  local v = { c: c, target: q.target },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-exporter',
        rules: [
          // One target down, named with the role and node it had. The agent
          // of a node whose Lease is stale is the node's problem
          // (KubeNodeShutdown), not the exporter's.
          a.alert(
            'KubeTriageExporterDown',
            |||
              target:kube_triage_exporter_info:last
              and on (%(target)s) %(up)s == 0
              unless on (%(c)s, node) (min by (%(c)s, node) (%(lease)s) > %(stale)s)
            ||| % v { up: q.m('up'), lease: q.m('kube_triage_node_lease_age_seconds'), stale: t.nodeLeaseStaleSeconds },
            'The kube-triage {{ $labels.role }} exporter {{ $labels.instance }}{{ with $labels.node }} on {{ . }}{{ end }} is down.',
            |||
              Prometheus has failed to scrape the kube-triage-exporter at {{ $labels.instance }} (job
              {{ $labels.job }}, role {{ $labels.role }}) for %s. The alerts that need its
              series are silent while it is down: a node agent's node cannot be told apart
              between shut down, partitioned and kubelet fault; a cluster exporter replica's
              peers carry on if one is still up.
            ||| % a.forText('KubeTriageExporterDown'),
          ),
          // No cluster-role exporter in a cluster: it reported within the
          // memory window and no longer does, or the node agents report
          // without it, or no exporter at all is seen (one cluster per
          // Prometheus: kube-triage is not scraped).
          a.alert(
            'KubeTriageExporterDown',
            |||
              group by (%(c)s) (max_over_time(target:kube_triage_exporter_info:last{role="cluster"}[%(memory)s]))
              unless on (%(c)s) group by (%(c)s) (%(clusterInfo)s)
              or
              group by (%(c)s) (%(nodeInfo)s)
              unless on (%(c)s) group by (%(c)s) (%(clusterInfo)s)
              or
              absent(%(anyInfo)s)
            ||| % v { memory: t.clusterExporterMemory, clusterInfo: q.roleInfo('cluster'), nodeInfo: q.roleInfo('node'), anyInfo: q.m('kube_triage_exporter_info') },
            'No kube-triage cluster exporter reports.',
            |||
              No exporter with --role=cluster (or none at all) has been scraped for %s: every alert about the
              apiserver's storage, the control plane's Leases, nodes, Services and workloads is
              silent. Its Deployment is gone or scaled to zero, its pods cannot start, or the
              scrape config no longer finds it.
            ||| % a.forText('KubeTriageExporterDown'),
            labels={ role: 'cluster' },
            severity=config.alerts.KubeTriageExporterDown.absentSeverity,
          ),
          a.alert(
            'KubeTriageCollectorFailing',
            'count by (%s) (%s) > 0\n' % [q.by(['role', 'collector']), q.withRole('%s == 0' % q.m('kube_triage_scrape_collector_success'))],
            'The {{ $labels.collector }} collector fails on {{ $value }} {{ $labels.role }} exporter(s).',
            |||
              The {{ $labels.collector }} collector of {{ $value }} kube-triage {{ $labels.role }}
              exporter(s) has reported failure or missed the scrape's deadline in every scrape for
              %s. Its series are missing or partial, and the alerts that read them are
              silent. The exporter's log says why (collector={{ $labels.collector }}).
            ||| % a.forText('KubeTriageCollectorFailing'),
          ),
          a.alert(
            'KubeTriageProbesStale',
            |||
              count by (%(by)s) (
                %(stale)s
              ) > 0
            ||| % {
              by: q.by(['role', 'collector']),
              stale: q.withRole(
                // The age at scrape time, by Prometheus's clock: no
                // remote-write lag reaches it.
                'timestamp(%(last)s) - %(last)s > %(n)s * %(interval)s'
                % { last: q.m('kube_triage_probe_last_run_timestamp_seconds'), interval: q.m('kube_triage_probe_interval_seconds'), n: t.probesStaleIntervals }
              ),
            },
            'The {{ $labels.collector }} probes of {{ $value }} {{ $labels.role }} exporter(s) are stale.',
            |||
              The last {{ $labels.collector }} probe round of {{ $value }} kube-triage {{ $labels.role }}
              exporter(s) finished over %s periods ago: the prober is stuck (a probe that ignores
              its timeout) or still waits for its caches' first list, and its results are withheld.
              Restarting the exporter recovers a stuck prober; its log and goroutine dump
              (/debug/pprof is not served: send SIGQUIT) say where it hangs.
            ||| % t.probesStaleIntervals,
          ),
          a.alert(
            'KubeTriageWatchFailing',
            |||
              count by (%(by)s) (
                %(failing)s
              ) > 0
            ||| % {
              by: q.by(['role', 'resource']),
              failing: q.withRole(
                'rate(%s[5m]) > 0 and on (%s) %s == 1'
                % [q.m('kube_triage_kubernetes_watch_errors_total'), q.target, q.m('kube_triage_apiserver_probe_success', 'endpoint="readyz"')]
              ),
            },
            'kube-triage {{ $labels.role }} exporters cannot list or watch {{ $labels.resource }}.',
            |||
              The {{ $labels.resource }} informer of {{ $value }} kube-triage {{ $labels.role }} exporter(s)
              has kept failing to list or watch for %s while the apiserver is ready: its
              ServiceAccount is not allowed (RBAC: compare deploy/rbac.yaml with the cluster's
              roles), or the apiserver throttles it (API Priority and Fairness; raise
              --kube.qps or its FlowSchema). Its cache, and the alerts that read it, are stale.
            ||| % a.forText('KubeTriageWatchFailing'),
          ),
          // A collector runs but its configuration leaves it nothing (or not
          // what it was told) to probe; the exporter says which.
          a.alert(
            'KubeTriageMisconfigured',
            'max by (%s) (%s)\n' % [q.by(['role', 'collector', 'problem']), q.withRole('%s == 1' % q.m('kube_triage_config_problem'))],
            'The kube-triage {{ $labels.collector }} collector is misconfigured: {{ $labels.problem }}.',
            |||
              The {{ $labels.collector }} collector of the kube-triage {{ $labels.role }} exporters runs,
              but its configuration leaves it nothing to probe ({{ $labels.problem }}), so its
              alerts cannot fire. service_not_found or service_no_address: --collector.dns.service
              names no Service with a ClusterIP (clusters name it kube-dns, coredns or
              rke2-coredns-rke2-coredns; give --collector.dns.service-address for a headless one).
              local_service_not_found: a --collector.kubeproxy.local-service names no Service.
              backends_cut_off: the cluster exporter reaches no Service endpoint at all (every
              connection times out or has no route): an egress NetworkPolicy around it, or it
              does not run in the pod network.
            |||,
          ),
          a.alert(
            'KubeTriageMisconfigured',
            |||
              max by (%(c)s, node) (%(nodeInfo)s)
              unless on (%(c)s, node) max by (%(c)s, node) (%(ready)s)
              and on (%(c)s) group by (%(c)s) (%(ready)s)
            ||| % v { nodeInfo: q.roleInfo('node'), ready: q.m('kube_triage_node_condition', 'condition="Ready"') },
            'A kube-triage node agent reports node {{ $labels.node }}, which the cluster does not have.',
            |||
              A node agent runs with --node-name={{ $labels.node }} (from NODE_NAME), and the
              cluster has no Node of that name: the node alerts cannot match its view to any
              node, and the node it really runs on reads as shut down when its Lease goes stale.
              The DaemonSet must set NODE_NAME from spec.nodeName.
            |||,
            labels={ problem: 'node_agent_unknown_node' },
          ),
          a.alert(
            'KubeTriageMisconfigured',
            |||
              group by (%(c)s, job) (
                {%(renamed)s, exported_namespace=~".+"}
                or {%(renamed)s, exported_node=~".+"}
                or {%(renamed)s, exported_service=~".+"}
              )
            ||| % v { renamed: q.sel('__name__=~"kube_triage_(exporter_info|service_info|node_condition)"') },
            'The scrape config of job {{ $labels.job }} renames kube-triage labels.',
            |||
              Series of job {{ $labels.job }} carry exported_namespace, exported_node or
              exported_service: the scrape config attaches labels of the same names to its
              targets without honor_labels, so Prometheus renamed the exporter's own. The Service,
              node and DNS alerts group by those labels and go silent or wrong. Set
              honor_labels: true (honorLabels in a ServiceMonitor), as for kube-state-metrics.
            |||,
            labels={ problem: 'scrape_labels_renamed' },
          ),
        ],
      },
    ],
  },
}
