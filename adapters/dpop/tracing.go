package dpop

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Tracing (OpenTelemetry), with Config.Tracer set: each VerifyProof is a
// "dpop.verify" span, a child of the request's, with the proof's
// algorithm and, when refused, the reason (the answer's error code and
// the API's reason, as in the log); never the proof, its key, its jti or
// the access token. The replay cache's own span, if it has one, is its
// child. Without a tracer, VerifyProof tests one nil field.

const (
	attrAlg    = attribute.Key("spaapi.dpop.alg")
	attrReason = attribute.Key("spaapi.refusal_reason")
	attrCode   = attribute.Key("spaapi.dpop.error")
)

// verifyTraced is VerifyProof inside a span.
func (v *Verifier) verifyTraced(ctx context.Context, req ports.ProofRequest) error {
	ctx, span := v.cfg.Tracer.Start(ctx, "dpop.verify")
	defer span.End()
	p, err := v.check(req, true)
	if err == nil {
		err = v.accept(ctx, p, p.claims.ath)
	}
	if !span.IsRecording() {
		return err
	}
	if p.alg != nil {
		span.SetAttributes(attrAlg.String(p.alg.name))
	}
	var pe *domain.ProofError
	switch {
	case errors.As(err, &pe):
		span.SetAttributes(attrReason.String(string(pe.Reason)), attrCode.String(pe.Code()))
		span.SetStatus(codes.Error, string(pe.Reason))
	case err != nil:
		span.SetStatus(codes.Error, "refused")
	}
	return err
}
