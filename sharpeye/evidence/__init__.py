"""Evidence exports with a chain of custody, free of any service.

An export is a zip package: the media under `media/`, `manifest.json` (who exported what,
when, why, for which case, on which instance, and the SHA-256 of each file),
`manifest.sig` (Ed25519 over exactly the manifest's bytes) and `public_key.pem`. The
instance signs with its own key (`keys.py`, `<data_dir>/evidence_key`); `verify.py` checks a
package offline and names each thing altered. The command API builds and serves packages;
`sharpeye evidence verify` checks them.
"""
