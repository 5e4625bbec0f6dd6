// Grafana dashboards as data, in the classic JSON model that Dashboards →
// Import takes (schemaVersion 39): panel constructors, the datasource and
// cluster variables, and a layout that places the panels. A dashboard file
// then reads as its list of panels:
//
//   local g = (import '../lib/grafana.libsonnet')(config);
//   local q = g.q;
//   g.dashboard('kube-triage-x', 'kube-triage / X', 'What it shows.', ['x'], [
//     g.row('A row'),
//     g.timeseries('A panel', 'What it shows.', [
//       g.target('max by (node) (%s)' % q.m('kube_triage_x'), '{{node}}'),
//     ], unit='s', w=8, h=7),
//   ])
//
// Every panel is w wide (of 24) and h high; the layout fills each line left
// to right and starts the next below the tallest panel of the line. A row
// is a line of its own.
function(config) {
  local c = config.clusterLabel,
  local ds = { type: 'prometheus', uid: '${datasource}' },
  local nonEmpty(list) = std.filter(function(m) m != '', list),
  // The object without its null fields.
  local prune(o) = { [k]: o[k] for k in std.objectFields(o) if o[k] != null },

  // The matcher that picks the dashboard's cluster. With one cluster and no
  // cluster label the variable is empty, and it matches the series without
  // the label.
  clusterMatcher: '%s="$cluster"' % c,

  // The PromQL library of the rules, every selector of which picks the
  // dashboard's cluster: q.m('kube_triage_x', 'a="b"') is
  // kube_triage_x{<selector>, cluster="$cluster", a="b"}, and so are the
  // selectors of its joins (q.fromNodeAgents).
  local base = (import 'promql.libsonnet')(config),
  q: base {
    sel(matchers=''):: super.sel(std.join(', ', nonEmpty([$.clusterMatcher, matchers]))),
  },

  // A recording rule's series in the dashboard's cluster. They come from
  // selected series already: no exporter selector.
  recorded(name, matchers=''):: '%s{%s}' % [name, std.join(', ', nonEmpty([$.clusterMatcher, matchers]))],

  // The cluster exporter's series of a per-vantage-point recording rule
  // have no node label: name it in legends.
  namedVantage(expr):: 'label_replace(%s, "node", "cluster exporter", "node", "")' % expr,

  datasource: ds,

  // Variables.
  datasourceVariable: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    refresh: 1,
    options: [],
  },

  // label_values(selector, label), refreshed when the time range changes.
  queryVariable(name, label, selector, labelName, includeAll=false, multi=false, allValue=null, hide=0)::
    local query = 'label_values(%s, %s)' % [selector, labelName];
    prune({
      name: name,
      label: label,
      type: 'query',
      datasource: ds,
      query: { query: query, refId: name },
      definition: query,
      refresh: 2,
      includeAll: includeAll,
      multi: multi,
      allValue: allValue,
      options: [],
      sort: 1,
      hide: hide,
    }),

  // The cluster picker, from the exporters' info. Hidden unless the config
  // shows it.
  clusterVariable: $.queryVariable(
    'cluster',
    'Cluster',
    base.m('kube_triage_exporter_info'),
    c,
    hide=if config.dashboards.showMultiCluster then 0 else 2,
  ),

  // A namespace picker (all by default) over the namespaces of a metric.
  namespaceVariable(metric):: $.queryVariable(
    'namespace',
    'Namespace',
    $.q.m(metric),
    'namespace',
    includeAll=true,
    multi=true,
    allValue='.*',
  ),

  // Queries. A panel names its queries A, B, ... in order.
  target(expr, legend=''):: { expr: expr, legendFormat: legend },

  local targets(ts, extra={}) = [
    { datasource: ds } + ts[i] + { refId: std.char(std.codepoint('A') + i) } + extra
    for i in std.range(0, std.length(ts) - 1)
  ],
  local instant = { instant: true, range: false },

  local panel(type, title, description, ts, w, h, extra={}) = {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    gridPos: { w: w, h: h },
    targets: ts,
  } + extra,

  local fieldConfig(defaults) = { defaults: prune(defaults), overrides: [] },

  local reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false },

  // Panels.
  row(title):: {
    type: 'row',
    title: title,
    collapsed: false,
    gridPos: { w: 24, h: 1 },
    panels: [],
  },

  // One big number per series, on a background of its colour.
  stat(title, description, ts, unit=null, w=8, h=7)::
    panel('stat', title, description, targets(ts), w, h, {
      fieldConfig: fieldConfig({ unit: unit }),
      options: {
        reduceOptions: reduceOptions,
        colorMode: 'background',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        wideLayout: true,
        showPercentChange: false,
        percentChangeColorMode: 'standard',
        orientation: 'auto',
      },
    }),

  // Lines over time; the legend a table on the right, the tooltip sorted
  // (legend='table'), or a list below, the tooltip in legend order
  // (legend='list').
  timeseries(title, description, ts, unit=null, min=null, legend='table', w=12, h=8)::
    panel('timeseries', title, description, targets(ts), w, h, {
      fieldConfig: fieldConfig({ unit: unit, min: min }),
      options: {
        legend: {
          table: { displayMode: 'table', placement: 'right' },
          list: { displayMode: 'list', placement: 'bottom' },
        }[legend] { showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: if legend == 'table' then 'desc' else 'none' },
      },
    }),

  // The series of an instant query as rows, their labels as columns; the
  // columns in hide are left out.
  table(title, description, ts, hide=['Time', 'Value'], w=12, h=8)::
    panel('table', title, description, targets(ts, { format: 'table' } + instant), w, h, {
      fieldConfig: fieldConfig({}),
      options: { frameIndex: 0, showHeader: true, cellHeight: 'sm' },
      transformations: [
        { id: 'organize', options: { excludeByName: { [col]: true for col in hide } } },
      ],
    }),

  // Horizontal bars, one per series of an instant query.
  bargauge(title, description, ts, unit='short', showLegend=true, w=8, h=8)::
    panel('bargauge', title, description, targets(ts, instant), w, h, {
      fieldConfig: fieldConfig({ unit: unit, min: 0 }),
      options: {
        orientation: 'horizontal',
        displayMode: 'basic',
        showUnfilled: true,
        reduceOptions: reduceOptions,
        valueMode: 'color',
        namePlacement: 'auto',
        sizing: 'auto',
        minVizWidth: 8,
        minVizHeight: 16,
        maxVizHeight: 300,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: showLegend, calcs: [] },
      },
    }),

  // Numbers the panels 1, 2, ... and places them: each line left to right,
  // the next line below the tallest panel of this one.
  layout(panels)::
    local place(state, p) =
      local wrap = state.x + p.gridPos.w > 24;
      local x = if wrap then 0 else state.x;
      local y = if wrap then state.y + state.lineH else state.y;
      local lineH = if wrap then p.gridPos.h else std.max(state.lineH, p.gridPos.h);
      {
        x: x + p.gridPos.w,
        y: y,
        lineH: lineH,
        panels: state.panels + [p { id: std.length(state.panels) + 1, gridPos: { x: x, y: y, w: p.gridPos.w, h: p.gridPos.h } }],
      };
    std.foldl(place, panels, { x: 0, y: 0, lineH: 0, panels: [] }).panels,

  // A dashboard: the config's tags, refresh and time range, the datasource
  // and cluster variables, then its own.
  dashboard(uid, title, description, tags, panels, variables=[]):: {
    title: title,
    uid: uid,
    description: description,
    tags: config.dashboards.tags + tags,
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    time: { from: config.dashboards.timeFrom, to: 'now' },
    refresh: config.dashboards.refresh,
    templating: { list: [$.datasourceVariable, $.clusterVariable] + variables },
    annotations: { list: [] },
    panels: $.layout(panels),
  },
}
