// Package secrets keeps a workspace's secrets: values sealed by the
// region's vault (AES-256-GCM data keys under a key-encryption key), bound
// to their workspace and name, logged without their value, and rewrapped
// when the key rotates.
//
// It may import the root package and the kernel (region) only; the vault is
// the kernel's tandem.Vault. Backup uses its exported helpers to export and
// import sealed values.
package secrets
