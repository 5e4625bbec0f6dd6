// What the exporter's judgments say (internal/guide), as lib/guide.json
// holds them: `make generate` writes that file from the Go package, and a
// test fails when the two differ, so the alerts, the runbook links and the
// triage walks read one set of verdicts, reasons and thresholds.
local g = import 'guide.json';
g {
  // The values of pairs (verdicts, reasons) that raise alert, in the
  // guide's order, as a regular expression's alternatives: 'a|b|c'.
  raising(pairs, alert):: std.join('|', [p.value for p in pairs if p.alert == alert]),
}
