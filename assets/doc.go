// Package assets registers and serves the versioned assets of a workspace
// (data, models, environments, components: immutable versions, labels,
// archiving, verified file downloads) and its datastores, from Azure ML
// CLI v2 documents.
//
// It owns the asset folders of a workspace's storage
// (assets/<kind>/<name>/<version>/) and the rules of a version's content.
// It may import the root package, the kernel (region) and spec; datastore
// credentials go to the secret service through the Secrets interface. It
// must not import another service, a backend, httpapi, cli or server.
package assets
