package dpop

// SignatureChecks returns how many proof signatures v has checked.
func SignatureChecks(v *Verifier) uint64 { return v.signatureChecks.Load() }
