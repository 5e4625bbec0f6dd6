// Cluster failure scenarios ("Troubleshoot Clusters"), each named by its own
// alert. Vantage points: the cluster exporter (its replicas count once) and
// one node agent per node, told apart by kube_triage_exporter_info. Alerts
// that read Leases from the exporter's cache trust them only once the
// apiserver has been ready from the cluster exporter for a while: while it
// is down, or its etcd is, no Lease can be renewed and those scenarios
// have their own alerts.
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local t = config.thresholds,
  local c = config.clusterLabel,
  local v = {
    c: c,

    guard: q.apiserverReadyGuard,
    stale: t.nodeLeaseStaleSeconds,
    // The freshest view of a node's Lease among the cluster exporter's
    // replicas: a replica whose watch is stuck must not make it stale.
    leaseAge: 'min by (%s, node) (%s)' % [q.by(), q.m('kube_triage_node_lease_age_seconds')],
    reachable: 'vantage:kube_triage_apiserver_reachable:max',
    down: t.apiserverDownFraction,
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-cluster',
        rules: [
          a.alert(
            'KubeAPIServerDown',
            |||
              count by (%(c)s) (%(reachable)s == 0)
              / count by (%(c)s) (%(reachable)s)
              > %(down)s
            ||| % v,
            'The apiserver does not answer from most of the cluster.',
            |||
              {{ $value | humanizePercentage }} of the vantage points (the cluster exporter and the
              node agents) get no HTTP answer from the apiserver: the apiserver process or its VM is
              down, or its address is unreachable. Running workloads keep serving, but nothing
              can be changed, scheduled or healed until it is back.
            |||,
          ),
          a.alert(
            'KubeAPIServerStorageDown',
            |||
              count by (%(c)s) (%(etcd)s == 0) > 0
              and on (%(c)s)
              count by (%(c)s) (%(reachable)s == 1) / count by (%(c)s) (%(reachable)s) > %(down)s
            ||| % v { etcd: q.m('kube_triage_apiserver_check_success', 'check=~"etcd|etcd-readiness"') },
            'The apiserver is up but cannot reach its etcd storage.',
            |||
              The apiserver answers, and its own etcd health checks fail: reads from its cache may
              still work, every write fails. etcd is down, has lost quorum or its disk, or the
              apiserver can no longer reach or authenticate to it.
            |||,
          ),
          a.alert(
            'KubeControlPlaneLeaderLost',
            |||
              min by (%(c)s, component) (%(age)s)
              > 2 * max by (%(c)s, component) (%(duration)s)
              and on (%(c)s)
              %(guard)s
            ||| % v { age: q.m('kube_triage_controlplane_leader_lease_age_seconds'), duration: q.m('kube_triage_controlplane_leader_lease_duration_seconds') },
            'No {{ $labels.component }} is leading.',
            |||
              The {{ $labels.component }} leader Lease was last renewed {{ $value | humanizeDuration }}
              ago, over twice its duration, while the apiserver is healthy: every instance of
              {{ $labels.component }} is down or cannot reach the apiserver. Without the scheduler,
              new pods stay Pending; without the controller-manager, endpoints, ReplicaSets and
              node health stop being updated.
            |||,
          ),
          a.alert(
            'KubeNodeShutdown',
            |||
              %(leaseAge)s > %(stale)s
              unless on (%(c)s, node) %(reachable)s
              and on (%(c)s)
              %(guard)s
            ||| % v,
            'Node {{ $labels.node }} looks shut down.',
            |||
              The kubelet of {{ $labels.node }} has not renewed its Lease for
              {{ $value | humanizeDuration }} and the node's kube-triage agent cannot be scraped
              either: the node is off, crashed, or cut off from everything. Its pods are evicted
              5 minutes after the node controller marks it unreachable.
            |||,
          ),
          a.alert(
            'KubeNodePartitioned',
            |||
              %(leaseAge)s > %(stale)s
              and on (%(c)s, node) (%(reachable)s == 0)
              and on (%(c)s)
              %(guard)s
            ||| % v,
            'Node {{ $labels.node }} is cut off from the apiserver.',
            |||
              The kubelet of {{ $labels.node }} has not renewed its Lease for
              {{ $value | humanizeDuration }}; the node's agent is up, and it cannot reach the
              apiserver either, while the rest of the cluster can: a network partition between
              the node and the control plane. Its containers probably still run.
            |||,
          ),
          a.alert(
            'KubeletFault',
            |||
              %(leaseAge)s > %(stale)s
              and on (%(c)s, node) (%(reachable)s == 1)
              and on (%(c)s)
              %(guard)s
            ||| % v,
            'The kubelet of {{ $labels.node }} has stopped reporting.',
            |||
              The kubelet of {{ $labels.node }} has not renewed its Lease for
              {{ $value | humanizeDuration }}, although the node is up and reaches the apiserver
              (its kube-triage agent does): the kubelet is stopped, crashed, hung or refused.
              kube_triage_kubelet_probe_success from the node says whether it still answers /healthz.
            |||,
          ),
          a.alert(
            'KubeProxyUnhealthy',
            |||
              max by (%(c)s, node) (%(livez)s) == 0
              and on (%(c)s, node)
              max by (%(c)s, node) (%(seen)s) == 1
            ||| % v {
              livez: q.fromNodeAgents(q.m('kube_triage_kubeproxy_probe_success', 'endpoint="livez"')),
              seen: q.fromNodeAgents('max_over_time(%s[%s])' % [q.m('kube_triage_kubeproxy_reachable'), t.kubeProxySeenWindow]),
            },
            'kube-proxy on {{ $labels.node }} is down or its rules are stale.',
            |||
              kube-proxy's /livez on {{ $labels.node }} has failed for %s: it is not running
              (no answer) or it has not programmed the node's Service rules in time (503). New
              Services and endpoint changes do not reach this node; pods on it may connect to
              pods that are gone. /healthz also fails during a drain; /livez does not, so this is
              not a drain.
            ||| % a.forText('KubeProxyUnhealthy'),
          ),
          a.alert(
            'KubeProxyServiceVIPUnreachable',
            |||
              min by (%(c)s, node, target) (%(vip)s) == 0
              and on (%(c)s, target)
              count by (%(c)s, target) (%(vipAll)s == 1) > 0
            ||| % v { vipAll: q.m('kube_triage_kubeproxy_service_vip_reachable'), vip: q.fromNodeAgents(q.m('kube_triage_kubeproxy_service_vip_reachable')) },
            'From {{ $labels.node }}, Service address {{ $labels.target }} refuses connections.',
            |||
              A TCP connection from {{ $labels.node }} to the Service address {{ $labels.target }}
              fails, while it succeeds from other nodes: the Service works, this node's
              kube-proxy rules for it (or its network) do not.
            |||,
          ),
          a.alert(
            'KubeServicesMassDeleted',
            |||
              (
                %(before)s
                - (
                  %(now)s
                  # none left counts as zero only while the services collector
                  # reports: an exporter that is down or not yet synced is not a deletion
                  or 0 * group by (%(c)s) (%(services)s == 1)
                )
              ) / %(before)s > %(fraction)s
              and on (%(c)s)
              %(before)s >= %(min)s
            ||| % v {
              // Services counted once however many replicas report them.
              now: 'count by (%s) (group by (%s, namespace, service) (%s))' % [c, c, q.m('kube_triage_service_info')],
              before: 'count by (%s) (group by (%s, namespace, service) (%s offset %s))' % [c, c, q.m('kube_triage_service_info'), t.massDeletedWindow],
              services: q.m('kube_triage_scrape_collector_success', 'collector="services"'),
              fraction: a.number(t.massDeletedFraction),
              min: t.massDeletedMinServices,
            },
            "{{ $value | humanizePercentage }} of the cluster's Services disappeared in %s." % a.duration(t.massDeletedWindow),
            |||
              Over %(pct)s%% of the Services that existed %(window)s ago are gone: a namespace deleted,
              a `kubectl delete` or an `apply --prune` with the wrong selector, a GitOps tool
              pointed at the wrong revision. Operator error until proven otherwise.
            ||| % { pct: std.round(t.massDeletedFraction * 100), window: a.duration(t.massDeletedWindow) },
          ),
        ],
      },
    ],
  },
}
