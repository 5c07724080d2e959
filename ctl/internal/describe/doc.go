// Package describe writes the human-readable, multi-section descriptions of `skiffctl describe`: an
// object's metadata, spec and status, its related objects (a Deployment's ReplicaSets, a Service's
// endpoints, a Node's pods and allocated resources) and the Events that mention it.
//
// Describers read through the shared typed client; the layout follows kubectl's so that habits carry over.
package describe
