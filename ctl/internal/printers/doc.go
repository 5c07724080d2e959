// Package printers writes API objects the way kubectl does: server-side Tables as aligned columns
// (with NAMESPACE, kind-prefixed names, LABELS and wide columns on request), and objects as JSON, YAML,
// "type/name", JSONPath templates or custom columns.
//
// It never talks to the API; callers hand it what the server returned.
package printers
