package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/devbot-hq/devbot/internal/fault"
)

// PushAuth verifies the Google-signed OIDC token a push subscription (or an
// Eventarc trigger) sends with oidc_token configured. idtoken checks the
// signature, the expiry and the audience; PushAuth adds what idtoken leaves
// out: the issuer, the service account's email and email_verified.
type PushAuth struct {
	// Audience is the oidc_token audience of the subscription (by default
	// the service URL). Required: an empty audience would disable idtoken's
	// audience check.
	Audience string
	// ServiceAccount is the push service account's email. Required.
	ServiceAccount string

	validator *idtoken.Validator
}

// Google's ID-token issuers.
var issuers = []string{"https://accounts.google.com", "accounts.google.com"}

// NewPushAuth returns a verifier. hc fetches Google's signing keys
// (https://www.googleapis.com/oauth2/v3/certs, cached as the response
// allows); nil uses a default client. Tests pass a client whose transport
// answers with their own keys.
func NewPushAuth(ctx context.Context, audience, serviceAccount string, hc *http.Client) (*PushAuth, error) {
	if audience == "" || serviceAccount == "" {
		return nil, errors.New("push auth needs both an audience and a service account")
	}
	opts := []idtoken.ClientOption{}
	if hc != nil {
		opts = append(opts, option.WithHTTPClient(hc))
	}
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("push auth: %w", err)
	}
	return &PushAuth{Audience: audience, ServiceAccount: serviceAccount, validator: v}, nil
}

// ErrForbidden is wrapped by a valid token that names the wrong sender.
var ErrForbidden = errors.New("forbidden")

// Verify checks r's bearer token. The error wraps fault.ErrUnauthorized when
// the token is missing or invalid, ErrForbidden when it is valid but not
// from the push service account. The reason is for the log, never the
// response.
func (a *PushAuth) Verify(ctx context.Context, r *http.Request) error {
	authz := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return fmt.Errorf("%w: no bearer token", fault.ErrUnauthorized)
	}
	p, err := a.validator.Validate(ctx, strings.TrimSpace(token), a.Audience)
	if err != nil {
		return fmt.Errorf("%w: %w", fault.ErrUnauthorized, err)
	}
	if !slices.Contains(issuers, p.Issuer) {
		return fmt.Errorf("%w: issuer %q is not Google", fault.ErrUnauthorized, p.Issuer)
	}
	email, _ := p.Claims["email"].(string)
	if !strings.EqualFold(email, a.ServiceAccount) {
		return fmt.Errorf("%w: token is for %q, not the push service account", ErrForbidden, email)
	}
	if v, _ := p.Claims["email_verified"].(bool); !v {
		return fmt.Errorf("%w: email_verified is not true", ErrForbidden)
	}
	return nil
}
