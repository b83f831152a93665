// Package vault seals workspace secrets with envelope encryption: each value
// is encrypted with AES-256-GCM under a fresh random 256-bit data key, and
// that data key is wrapped (AES-256-GCM) under a key-encryption key (KEK).
// The KEKs live in a key file, a JSON keyring with one current key, kept
// apart from the metadata database so that neither alone reveals a secret.
//
// KeyFile implements tandem.Vault and tandem.KeyRotator. The business rules
// around secrets (names, limits, access, the change log, the order of a
// rotation's steps) live in package region; this package must not know
// about workspaces, the store or HTTP, and must never log or return a
// plaintext except from Open.
package vault
