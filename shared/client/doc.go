// Package client is Skiff's REST client for the Kubernetes-compatible API: connection settings and the
// kubeconfig loader (Config, LoadKubeconfig), a generic typed client per resource (Resource[T]) with
// create/get/list/update/patch/delete/watch and raw subresource access, and typed API errors decoded from
// Status bodies (IsNotFound, IsConflict, ...).
//
// It always speaks JSON, throttles requests with a token bucket, and retries only idempotent requests
// (GET, LIST, the start of a WATCH) on connection errors, 429 and 503. It does not cache: list+watch
// caches live in shared/informer.
package client
