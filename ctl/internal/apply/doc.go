// Package apply implements client-side apply as kubectl does it: the configuration the user applies
// is remembered in the kubectl.kubernetes.io/last-applied-configuration annotation, and each apply
// sends a strategic merge patch computed three ways from that last-applied configuration (what the user
// had), the new configuration (what the user wants) and the live object (what the cluster has), so
// fields the user removed are removed and fields others set are kept.
//
// The patch metadata (merge keys and strategies) comes from the struct tags of Skiff's own API types.
package apply
