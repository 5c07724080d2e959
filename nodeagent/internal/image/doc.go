// Package image is the node's image store: it pulls OCI and Docker v2 images with go-containerregistry
// (anonymous or with pull-secret credentials; plain HTTP for the registries named insecure), imports
// image tarballs (`docker save` archives and OCI layouts, as tar files or directories) for air-gapped
// nodes, keeps each layer once by its uncompressed digest, unpacked into a read-only directory with
// whiteouts converted to overlayfs form, and mounts a per-container overlayfs root filesystem over those
// layers. It garbage-collects images no container uses once the disk passes a threshold.
//
// Layout under Root: layers/<diffid-hex>/ (unpacked layers), images/<id>.json (config, layers, names),
// and refs.json (reference -> image id). Writes are atomic renames, so a killed agent leaves no half
// layer behind.
//
// It does not decide when to pull (imagePullPolicy lives in the pod sync loop).
package image
