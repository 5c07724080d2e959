// Package component is the plumbing every long-running Skiff component shares: common flags (logging,
// health address), a zap logger, a Prometheus registry, the health/metrics HTTP server with /healthz,
// /livez, /readyz, /metrics and /version, and a signal-aware context for graceful shutdown.
//
// It does not parse component-specific flags or talk to the apiserver.
package component
