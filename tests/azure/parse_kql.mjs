// Parses and analyzes KQL with Microsoft's Kusto parser (@kusto/language-service-next, the
// Bridge.NET build of Kusto.Language), against a database holding the declared tables, and prints
// every diagnostic and the result's columns as JSON. tests/azure/test_kql.py installs the package
// and runs this.
//
//   node parse_kql.mjs PACKAGE_DIR < request.json > diagnostics.json
//
// request:  {"database": "…", "tables": [{"name": "…", "columns": [{"name": "…", "type": "datetime"}]}],
//            "queries": {"label": "query text", …}}
// answer:   {"label": {"diagnostics": [{"severity": "Error", "code": "KS142", "message": "…",
//                                     "line": 1, "column": 5}, …],
//                      "columns": [{"name": "account_id", "type": "string"}, …]}, …}
// (line and column are 1-based; a diagnostic without a location has neither; columns is null
// when the result is not a table.)
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const packageDir = process.argv[2];
if (!packageDir) {
  console.error("usage: node parse_kql.mjs PACKAGE_DIR < request.json");
  process.exit(2);
}

// The package is two classic scripts: the Bridge.NET runtime, then Kusto.Language, which
// registers itself on the global `Kusto`.
const require = createRequire(import.meta.url);
require(path.join(packageDir, "bridge.min.js"));
require(path.join(packageDir, "Kusto.Language.Bridge.min.js"));
const K = globalThis.Kusto.Language;
const S = K.Symbols;

// Log Analytics column types (both the table API's `dateTime` and the rule's `datetime`).
const scalar = {
  string: S.ScalarTypes.String,
  int: S.ScalarTypes.Int,
  long: S.ScalarTypes.Long,
  real: S.ScalarTypes.Real,
  boolean: S.ScalarTypes.Bool,
  bool: S.ScalarTypes.Bool,
  datetime: S.ScalarTypes.DateTime,
  dynamic: S.ScalarTypes.Dynamic,
  guid: S.ScalarTypes.Guid,
  timespan: S.ScalarTypes.TimeSpan,
  decimal: S.ScalarTypes.Decimal,
};

const request = JSON.parse(readFileSync(0, "utf8"));
const tables = request.tables.map((table) => {
  const columns = table.columns.map((column) => {
    const type = scalar[String(column.type).toLowerCase()];
    if (!type) throw new Error(`${table.name}.${column.name}: unknown column type ${column.type}`);
    // ColumnSymbol(name, type, description, originalColumns, source, examples)
    return new S.ColumnSymbol(column.name, type, null, null, null, null);
  });
  return new S.TableSymbol.$ctor4(table.name, columns);
});
const database = new S.DatabaseSymbol.ctor(request.database || "auditlake", tables);
const globals = K.GlobalState.Default.WithDatabase(database);

const answer = {};
for (const [label, text] of Object.entries(request.queries)) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const found = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    const entry = { severity: d.Severity, code: d.Code, message: d.Message };
    if (d.HasLocation) {
      const line = { v: 0 };
      const column = { v: 0 };
      if (code.TryGetLineAndOffset(d.Start, line, column)) {
        entry.line = line.v;
        entry.column = column.v;
      }
    }
    found.push(entry);
  }
  let columns = null;
  if (code.ResultType instanceof S.TableSymbol) {
    columns = [];
    const resultColumns = code.ResultType.Columns;
    for (let i = 0; i < resultColumns.Count; i++) {
      const column = resultColumns.getItem(i);
      columns.push({ name: column.Name, type: column.Type.Name });
    }
  }
  answer[label] = { diagnostics: found, columns };
}
process.stdout.write(JSON.stringify(answer) + "\n");
