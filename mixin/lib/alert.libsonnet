// The shape every alert of the pack shares: severity and `for` from the
// config, a summary that names the cluster when there are several, a
// one-line description and the runbook's URL.
function(config) {
  // Text blocks keep their line breaks; a description reads as one
  // paragraph in a notification.
  oneLine(s):: std.strReplace(std.rstripChars(s, '\n'), '\n', ' '),

  // A threshold as PromQL and people write it: 0.3, not 0.29999999999999999.
  number(x):: if std.floor(x) == x then '%d' % x else std.rstripChars('%.6f' % x, '0'),

  // '15m' is '15 minutes', '1h' 'an hour', for descriptions.
  duration(d)::
    local n = std.parseInt(d[:std.length(d) - 1]);
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[d[std.length(d) - 1]];
    if n == 1 then (if unit == 'hour' then 'an hour' else 'a ' + unit) else '%d %ss' % [n, unit],

  // '1h' is 'the last hour', '15m' 'the last 15 minutes'.
  last(d)::
    local words = $.duration(d);
    'the last ' + (if std.startsWith(words, 'a ') then words[2:] else if std.startsWith(words, 'an ') then words[3:] else words),

  // The `for` of an alert, in words.
  forText(name):: $.duration(config.alerts[name]['for']),

  // The triage page each alert links to (triage_url), from the walks the
  // exporter routes (internal/guide): the Service, the workload, or the
  // cluster walk.
  triageWalk:: (import 'guide.libsonnet').alertWalks,

  alert(name, expr, summary, description, labels={}, severity=null)::
    local a = config.alerts[name];
    local triage = config.triageURLBase != '' && std.objectHas($.triageWalk, name);
    {
      alert: name,
      expr: expr,
      labels: { severity: if severity != null then severity else a.severity } + labels,
      annotations: {
        summary: '{{ with $labels.%s }}{{ . }}: {{ end }}%s' % [config.clusterLabel, summary],
        description: $.oneLine(description),
        runbook_url: config.runbookURLBase + name + '.md',
        [if triage then 'triage_url']: std.rstripChars(config.triageURLBase, '/') + '/triage/' + $.triageWalk[name],
      },
    } + (if a['for'] != null then { 'for': a['for'] } else {}),
}
