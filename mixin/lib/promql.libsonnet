// PromQL fragments shared by the rules and dashboards, built from the
// config: the cluster label, the exporter selector and the joins that learn
// an exporter's role and node from its own kube_triage_exporter_info.
function(config) {
  local c = config.clusterLabel,

  // The cluster label, to put first in a `by` or `on` list.
  cluster: c,
  // `by (cluster, x, y)` lists: by(['node']) is 'cluster, node'.
  by(labels=[]):: std.join(', ', [c] + labels),
  // The target's identity: cluster, job, instance.
  target: std.join(', ', [c] + config.targetLabels),

  // sel('endpoint="readyz"') is the matchers of a selector of the
  // exporter's series, with the configured selector first. A trailing comma
  // is valid PromQL, so '' and 'x="y"' both work.
  sel(matchers=''):: std.join(', ', std.filter(function(m) m != '', [config.kubeTriageSelector, matchers])),
  // m('kube_triage_x', 'a="b"') is the selector kube_triage_x{<selector>, a="b"}
  // (no braces when there are no matchers).
  m(name, matchers=''):: local s = self.sel(matchers); if s == '' then name else '%s{%s}' % [name, s],

  // The exporters of one role, one series per target, for joins on target.
  roleInfo(role):: self.m('kube_triage_exporter_info', 'role="%s"' % role),
  // Node agents with their node, deduplicated (one series per target even
  // when two Prometheus replicas feed the ruler), for group_left (node).
  nodeInfo: 'max by (%s, node) (%s)' % [self.target, self.roleInfo('node')],

  // expr's series from node agents, labelled with the agent's node.
  fromNodeAgents(expr):: '(%s) * on (%s) group_left (node) %s' % [expr, self.target, self.nodeInfo],
  // expr's series from cluster-role exporters only.
  fromClusterExporter(expr):: '(%s) and on (%s) %s' % [expr, self.target, self.roleInfo('cluster')],
  // expr's series with the role of the exporter they come from.
  withRole(expr):: '(%s) * on (%s) group_left (role) max by (%s, role) (%s)' % [expr, self.target, self.target, self.m('kube_triage_exporter_info')],

  // One series per vantage point of expr: the cluster exporter (its
  // replicas are one vantage point; no node label) and each node agent
  // (labelled with its node).
  vantage(expr):: |||
    max by (%(byNode)s) (
      %(agents)s
    )
    or
    max by (%(c)s) (
      %(cluster)s
    )
  ||| % { c: c, byNode: $.by(['node']), agents: $.fromNodeAgents(expr), cluster: $.fromClusterExporter(expr) },

  // True (1) per cluster once the cluster exporter has seen the apiserver
  // ready for the configured time: the Lease alerts trust its cache then.
  apiserverReadyGuard: std.rstripChars(|||
    max by (%(c)s) (
      %(ready)s
    ) == 1
  |||, '\n') % {
    c: c,
    ready: $.fromClusterExporter('min_over_time(%s[%s])' % [$.m('kube_triage_apiserver_probe_success', 'endpoint="readyz"'), config.thresholds.apiserverReadyFor]),
  },
}
