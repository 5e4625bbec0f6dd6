// kube-triage / Cluster: the "Troubleshoot Clusters" failure scenarios, one
// row each, beside the alerts that name them (alerts/cluster.libsonnet).
// Vantage points come from the recording rules; node agents' series get
// their node from the agent's kube_triage_exporter_info; replicas of the
// cluster exporter count once.
function(config)
  local g = (import '../lib/grafana.libsonnet')(config);
  local q = g.q;
  local a = (import '../lib/alert.libsonnet')(config);
  local t = config.thresholds;
  local reachable = g.recorded('vantage:kube_triage_apiserver_reachable:max');
  local nodeAgents(agg, by, metric, matchers='') = '%s by (%s) (%s)' % [agg, by, q.fromNodeAgents(q.m(metric, matchers))];

  g.dashboard(
    'kube-triage-cluster',
    'kube-triage / Cluster',
    "The guide's cluster failure scenarios, one row each: apiserver down or its etcd lost, scheduler or controller-manager down, a node shut down, partitioned or with a faulty kubelet, kube-proxy, operator error. From kube-triage-exporter.",
    ['cluster'],
    [
      g.row('apiserver down / etcd lost'),
      g.stat(
        'apiserver answers from',
        'Share of vantage points (cluster exporter and node agents) that get an HTTP answer from the apiserver. Below %d%% for %s is KubeAPIServerDown.' % [std.round((1 - t.apiserverDownFraction) * 100), a.forText('KubeAPIServerDown')],
        // == bool: 0, not no data, when no vantage point gets an answer.
        [g.target('sum(%s == bool 1) / count(%s)' % [reachable, reachable])],
        unit='percentunit',
        w=8,
        h=7,
      ),
      g.timeseries(
        'apiserver reachable by vantage point',
        '1 while the vantage point gets an answer; the node agents carry the node label. One node at 0 is a partition, all at 0 the apiserver down.',
        [g.target(g.namedVantage(reachable), '{{node}}')],
        w=8,
        h=7,
      ),
      g.timeseries(
        'etcd checks of the apiserver',
        "The apiserver's own etcd checks (1 passing). At 0 while the apiserver answers: KubeAPIServerStorageDown.",
        [g.target('min by (check) (%s)' % q.m('kube_triage_apiserver_check_success', 'check=~"etcd.*"'), '{{check}}')],
        w=8,
        h=7,
      ),

      g.row('scheduler / controller-manager down'),
      g.timeseries(
        'Leader Lease age / duration',
        'Above 2 while the apiserver is healthy: KubeControlPlaneLeaderLost. No line: the Lease is absent (managed control plane).',
        // As the alert reads it: the freshest replica's age.
        [g.target(
          'min by (component) (%s) / max by (component) (%s)' % [
            q.m('kube_triage_controlplane_leader_lease_age_seconds'),
            q.m('kube_triage_controlplane_leader_lease_duration_seconds'),
          ],
          '{{component}}',
        )],
        w=12,
        h=7,
      ),
      g.stat(
        'Leader Lease present',
        '0: the control plane hides the component (managed), which is not down.',
        [g.target('max by (component) (%s)' % q.m('kube_triage_controlplane_leader_lease_present'), '{{component}}')],
        w=6,
        h=7,
      ),
      g.timeseries(
        'Leadership changes',
        'Leader transitions over the last hour; a leader that keeps losing its Lease.',
        [g.target('max by (component) (delta(%s[1h]))' % q.m('kube_triage_controlplane_leader_transitions'), '{{component}}')],
        w=6,
        h=7,
      ),

      g.row('node shut down / network partition / kubelet fault'),
      g.timeseries(
        'Node Lease age',
        'Seconds since each kubelet renewed its Lease; over %ds the node stopped reporting. Which alert names it depends on the next two panels.' % t.nodeLeaseStaleSeconds,
        // As the alerts read it: the freshest replica's view.
        [g.target('min by (node) (%s)' % q.m('kube_triage_node_lease_age_seconds'), '{{node}}')],
        unit='s',
        w=8,
        h=7,
      ),
      g.timeseries(
        'Node agent reaches the apiserver',
        "From each node's agent. Lease stale and no line: KubeNodeShutdown; at 0: KubeNodePartitioned; at 1: KubeletFault.",
        [g.target(g.recorded('vantage:kube_triage_apiserver_reachable:max', 'node!=""'), '{{node}}')],
        w=8,
        h=7,
      ),
      g.timeseries(
        'Kubelet health',
        "The kubelet's /healthz from its node's agent (1 healthy).",
        [g.target(nodeAgents('max', 'node', 'kube_triage_kubelet_probe_success'), '{{node}}')],
        w=8,
        h=7,
      ),
      g.stat(
        'Nodes tainted unreachable',
        'Nodes the node controller has tainted node.kubernetes.io/unreachable; their pods are evicted after 5 minutes.',
        // Each node once, however many replicas report it.
        [g.target('sum(max by (node) (%s))' % q.m('kube_triage_node_unreachable_taint'))],
        w=6,
        h=7,
      ),
      g.timeseries(
        'Node conditions not as expected',
        "Ready not true, or any other condition (pressures, NetworkUnavailable, node-problem-detector's) true.",
        [
          g.target('max by (node, condition) (%s == 1)' % q.m('kube_triage_node_condition', 'condition="Ready", status!="true"'), '{{node}} Ready not true'),
          g.target('max by (node, condition) (%s == 1)' % q.m('kube_triage_node_condition', 'condition!="Ready", status="true"'), '{{node}} {{condition}}'),
        ],
        w=18,
        h=7,
      ),

      g.row('kube-proxy'),
      g.timeseries(
        'kube-proxy /livez by node',
        '1 healthy. At 0 for %s: KubeProxyUnhealthy. /healthz also fails during drains and is not shown.' % a.forText('KubeProxyUnhealthy'),
        [g.target(nodeAgents('max', 'node', 'kube_triage_kubeproxy_probe_success', 'endpoint="livez"'), '{{node}}')],
        w=8,
        h=7,
      ),
      g.timeseries(
        'Rules last programmed',
        "Seconds since kube-proxy last programmed the node's rules (0 while healthy).",
        [g.target(nodeAgents('max', 'node', 'kube_triage_kubeproxy_last_update_age_seconds'), '{{node}}')],
        unit='s',
        w=8,
        h=7,
      ),
      g.timeseries(
        'Service VIPs reachable by node',
        "A TCP connection to each Service address through the node's rules; one node at 0 is KubeProxyServiceVIPUnreachable.",
        [g.target(nodeAgents('min', 'node, target', 'kube_triage_kubeproxy_service_vip_reachable'), '{{node}} {{target}}')],
        w=8,
        h=7,
      ),

      g.row('operator error'),
      g.timeseries(
        'Services in the cluster',
        'A sudden drop is KubeServicesMassDeleted.',
        // Each Service once, however many replicas report it.
        [g.target('count(group by (namespace, service) (%s))' % q.m('kube_triage_service_info'), 'Services')],
        w=8,
        h=7,
      ),
      g.timeseries(
        'Services by failing verdict',
        'Selector typos (selector_matches_nothing) and port mismatches are operator errors.',
        [g.target('count by (verdict) (group by (namespace, service, verdict) (%s == 1))' % q.m('kube_triage_service_verdict', 'verdict!="ok"'), '{{verdict}}')],
        w=8,
        h=7,
      ),
      g.timeseries(
        'Names answering NXDOMAIN',
        'DNS names that now answer NXDOMAIN through the DNS Service (a Service deleted or renamed).',
        [g.target('count(max by (name) (%s) == 1) or vector(0)' % q.m('kube_triage_dns_probe_result', 'server_kind="service", result="nxdomain"'), 'names')],
        w=8,
        h=7,
      ),
    ],
  )
