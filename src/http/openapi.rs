//! `GET <issuer path>/openapi.json` on the public listener: the public
//! endpoints as an OpenAPI 3.1 document, as Ory Hydra publishes its own.
//! The admin API has its own document on the admin listener
//! (`/admin/openapi.json`), so that a public client's generator never sees
//! operations it cannot reach, and the admin listener's paths are not
//! advertised on the public port.
//!
//! These handlers read their requests by hand (the revocation form is parsed
//! strictly, scanner reports are verified before they are parsed), so the
//! document is written here rather than derived from types. It is built once
//! at start, for the configured issuer: paths carry the issuer's path, and
//! the server is the issuer's origin. `tests/schemathesis/run` checks that
//! the server answers as it says.

use serde_json::{Value, json};

use super::metadata::{self, INTROSPECTION_AUTH_METHODS, REVOCATION_AUTH_METHODS};
use super::scanning::MAX_PUBLIC_CREDENTIALS;
use crate::scanning::MAX_REPORTS;

/// The issuer's origin (`https://id.example.com`): the server every path of
/// the document is relative to.
fn origin(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map_or(0, |at| at + 3);
    issuer[after_scheme..]
        .find('/')
        .map_or(issuer, |slash| &issuer[..after_scheme + slash])
}

/// An error answer: RFC 6749 §5.2 JSON.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/OAuthError" } } }
    })
}

/// An error answer with `Retry-After`.
fn retry_later(description: &str) -> Value {
    let mut answer = error(description);
    answer["headers"] = json!({ "Retry-After": { "$ref": "#/components/headers/Retry-After" } });
    answer
}

/// The answers of a token request (revocation and introspection) besides
/// its success: the checks run in this order, and the first that fails
/// answers.
fn token_request_errors(unauthorized: &str) -> Value {
    json!({
        "400": error("`invalid_request`: not form-encoded, a malformed form, a parameter \
                      sent twice, `token` missing or empty, OAuth parameters in the query \
                      string, or client credentials sent by two methods"),
        "401": {
            "description": unauthorized,
            "headers": {
                "WWW-Authenticate": {
                    "description": "`Basic realm=\"<issuer>\", error=\"invalid_client\"`, \
                                    when the request used an `Authorization` header",
                    "schema": { "type": "string" }
                }
            },
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/OAuthError" } } }
        },
        "405": { "$ref": "#/components/responses/MethodNotAllowed" },
        "408": error("`invalid_request`: the body did not arrive within `server.body_timeout`"),
        "413": error("`invalid_request`: the body is larger than `server.body_limit` (16 KiB by default)"),
        "429": retry_later("`temporarily_unavailable`: too many failed authentications of this \
                            client or from this address, or a request rate limit"),
        "503": retry_later("`temporarily_unavailable`: the database is unavailable (nothing was \
                            done: retry), or the server is at its concurrency limit")
    })
}

/// The form of a token request: the token, an optional hint, and
/// `client_secret_post` credentials. An empty value counts as absent, and
/// other parameters are ignored.
fn token_form(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": ["token"],
        "properties": {
            "token": { "type": "string", "minLength": 1, "description": "The token, as issued." },
            "token_type_hint": {
                "type": "string",
                "description": "`access_token` or `refresh_token`; any other value is ignored, \
                                and no value changes the answer (RFC 7009 §2.1)"
            },
            "client_id": { "type": "string", "description": "`client_secret_post`, or a public client naming itself" },
            "client_secret": { "type": "string", "description": "`client_secret_post`; needs `client_id`" }
        },
        // A (non-empty) secret needs a (non-empty) client id.
        "anyOf": [
            { "not": { "required": ["client_secret"] } },
            { "properties": { "client_secret": { "maxLength": 0 } } },
            { "required": ["client_id"], "properties": { "client_id": { "minLength": 1 } } }
        ]
    })
}

/// A scanner's signed report (GitHub or GitLab): `prefix` is the header
/// prefix, `success` the status it answers.
fn partner_report(operation_id: &str, prefix: &str, success: &str, summary: &str) -> Value {
    let header = |suffix: &str, description: &str| {
        json!({
            "name": format!("{prefix}-Public-Key-{suffix}"),
            "in": "header",
            "required": true,
            "description": description,
            "schema": { "type": "string", "minLength": 1 }
        })
    };
    json!({
        "post": {
            "tags": ["secret scanning"],
            "operationId": operation_id,
            "summary": summary,
            "description": "Off (`404`) unless the scanner's keys are configured \
                            (`secret_scanning.github`, `secret_scanning.gitlab`). The signature \
                            is checked before the body is parsed; every failure counts against \
                            the caller's address.",
            "parameters": [
                header("Identifier", "The id of the scanner's key that signed the body"),
                header("Signature", "The base64 ECDSA P-256 SHA-256 signature of the raw body")
            ],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ScannerReports" } } }
            },
            "responses": {
                success: {
                    "description": "Every token whose grant Rescind knows is revoked; the feedback \
                                    names each by its SHA-256",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ScannerFeedback" } } }
                },
                "400": error("`invalid_request`: a signed body that is not a JSON array of reports, \
                              or more than 10,000 of them"),
                "401": error("`invalid_signature`: a signature header is missing, or the signature \
                              does not verify against the scanner's keys"),
                "404": error("`not_found`: this scanner is not configured"),
                "405": { "$ref": "#/components/responses/MethodNotAllowed" },
                "408": error("`invalid_request`: the body did not arrive in time"),
                "413": error("`invalid_request`: the body is larger than 4 MiB"),
                "429": retry_later("`temporarily_unavailable`: too many bad signatures from this address"),
                "503": retry_later("`temporarily_unavailable`: the database is unavailable; retry")
            }
        }
    })
}

/// The document, for an issuer whose path is `issuer_path`.
#[must_use]
pub fn document(issuer: &str, issuer_path: &str) -> Value {
    let mut paths = serde_json::Map::new();
    token_paths(&mut paths, issuer_path);
    discovery_paths(&mut paths, issuer_path);
    report_paths(&mut paths, issuer_path);
    logout_path(&mut paths, issuer_path);
    health_paths(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Rescind public API",
            "version": env!("CARGO_PKG_VERSION"),
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
            "description": "Token revocation (RFC 7009), introspection for resource servers \
                            (RFC 7662), metadata (RFC 8414), secret-scanning reports and health, \
                            as served on the public listener (`server.listen`). The admin API is \
                            described by `/admin/openapi.json` on the admin listener. Every \
                            answer carries `Cache-Control: no-store` but the metadata document."
        },
        "servers": [{ "url": origin(issuer), "description": "The public listener, at the issuer's origin" }],
        "tags": [
            { "name": "revocation", "description": "RFC 7009 token revocation" },
            { "name": "introspection", "description": "RFC 7662 token introspection, for resource servers" },
            { "name": "discovery", "description": "RFC 8414 authorization server metadata" },
            { "name": "secret scanning", "description": "Leaked-token reports" },
            { "name": "logout", "description": "OpenID Connect back-channel logout, from configured authorisation servers" },
            { "name": "health", "description": "Liveness and readiness probes" }
        ],
        "paths": paths,
        "components": components()
    })
}

/// Revocation (with its CORS preflight) and introspection.
fn token_paths(paths: &mut serde_json::Map<String, Value>, issuer_path: &str) {
    let revoke = format!("{issuer_path}/oauth2/revoke");
    let introspect = format!("{issuer_path}/oauth2/introspect");
    let mut revoke_answers = json!({
        "200": {
            "description": "Revoked, or nothing to revoke: the token is dead either way",
            "headers": { "Cache-Control": { "$ref": "#/components/headers/Cache-Control" } }
        }
    });
    let mut errors = token_request_errors(
        "`invalid_client`: unknown client, wrong secret, disabled client, a secret for a public \
         client, a confidential client without its secret, or no client under \
         `policy.anonymous = \"reject\"`; `unauthorized_client`: a token of another client under \
         `policy.foreign = \"reject\"`",
    );
    if let (Some(answers), Some(errors)) = (revoke_answers.as_object_mut(), errors.as_object_mut())
    {
        answers.append(errors);
    }
    paths.insert(revoke, json!({
        "post": {
            "tags": ["revocation"],
            "operationId": "revoke_token",
            "summary": "Revoke a token and every other token of its grant (RFC 7009)",
            "description": "Answers `200` for a revoked token, an unknown one and one already \
                            revoked alike. Callers: a confidential client with its secret \
                            (`client_secret_basic` or `client_secret_post`), a public client \
                            naming itself with `client_id`, or no one at all (a secret scanner), \
                            as `policy.anonymous` and `policy.foreign` allow.",
            "security": [{}, { "client_secret_basic": [] }],
            "requestBody": {
                "required": true,
                "content": { "application/x-www-form-urlencoded": { "schema": { "$ref": "#/components/schemas/RevocationRequest" } } }
            },
            "responses": revoke_answers
        },
        "options": {
            "tags": ["revocation"],
            "operationId": "revoke_token_preflight",
            "summary": "CORS preflight",
            "description": "Allows the request for an origin in `cors.allowed_origins` or a public \
                            client's `allowed_origins`; answers without the CORS headers for any \
                            other.",
            "responses": {
                "204": {
                    "description": "Preflight answer",
                    "headers": { "Allow": { "required": true, "schema": { "type": "string", "const": "POST, OPTIONS" } } }
                }
            }
        }
    }));
    let mut introspection = json!({
        "post": {
            "tags": ["introspection"],
            "operationId": "introspect_token",
            "summary": "Introspect a token (RFC 7662)",
            "description": "Only for resource servers: confidential clients the operator marked \
                            (`rescind client set-resource-server`), with their secret by \
                            `client_secret_basic` or `client_secret_post`. Any token of any \
                            client; writes nothing.",
            "security": [{ "client_secret_basic": [] }],
            "requestBody": {
                "required": true,
                "content": { "application/x-www-form-urlencoded": { "schema": { "$ref": "#/components/schemas/IntrospectionRequest" } } }
            },
            "responses": {
                "200": {
                    "description": "The token's state",
                    "headers": { "Cache-Control": { "$ref": "#/components/headers/Cache-Control" } },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/IntrospectionResponse" } } }
                }
            }
        }
    });
    let mut errors = token_request_errors(
        "`invalid_client`: no credentials, a public client, a wrong secret, or a client that \
         is not a resource server",
    );
    if let (Some(responses), Some(extra)) = (
        introspection["post"]["responses"].as_object_mut(),
        errors.as_object_mut(),
    ) {
        responses.append(extra);
    }
    paths.insert(introspect, introspection);
}

/// The metadata document, at each place it is served.
fn discovery_paths(paths: &mut serde_json::Map<String, Value>, issuer_path: &str) {
    let metadata_paths = metadata::paths(issuer_path);
    for (index, path) in metadata_paths.iter().enumerate() {
        let operation_id = if index == 0 {
            "get_metadata".to_owned()
        } else {
            "get_metadata_appended".to_owned()
        };
        let get = json!({
            "tags": ["discovery"],
            "operationId": operation_id,
            "summary": "Authorization server metadata (RFC 8414)",
            "description": "The endpoints Rescind serves and their authentication methods, merged \
                            with `metadata.extra`. Cacheable (`metadata.max_age`), open to any \
                            origin.",
            "responses": {
                "200": {
                    "description": "The metadata document",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Metadata" } } }
                },
                "405": { "$ref": "#/components/responses/MethodNotAllowed" }
            }
        });
        let mut head = get.clone();
        head["operationId"] = Value::from(format!("{operation_id}_head"));
        head["summary"] = Value::from("The metadata document's headers");
        head["responses"]["200"] = json!({ "description": "The metadata document's headers" });
        paths.insert(path.clone(), json!({ "get": get, "head": head }));
    }
}

/// The reports of leaked tokens.
fn report_paths(paths: &mut serde_json::Map<String, Value>, issuer_path: &str) {
    paths.insert(
        format!("{issuer_path}/credentials/revoke"),
        json!({
            "post": {
                "tags": ["secret scanning"],
                "operationId": "report_leaked_credentials",
                "summary": "Report leaked tokens, without credentials",
                "description": "Anyone may report up to 1,000 tokens; each known one's grant is \
                                revoked as a secret-scanning report. The answer is `202` \
                                whatever the tokens were, so it reveals nothing. Rate limited per \
                                address (`secret_scanning.public_reports_per_minute`); off \
                                (`404`) when that is 0 or `policy.anonymous = \"reject\"`.",
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PublicReport" } } }
                },
                "responses": {
                    "202": { "description": "Accepted: every known token's grant is revoked" },
                    "400": error("`invalid_request`: not `{\"credentials\": [...]}` with 1 to 1,000 strings"),
                    "404": error("`not_found`: public reports are off"),
                    "405": { "$ref": "#/components/responses/MethodNotAllowed" },
                    "408": error("`invalid_request`: the body did not arrive in time"),
                    "413": error("`invalid_request`: the body is larger than 512 KiB"),
                    "429": retry_later("`temporarily_unavailable`: this address's reports per minute are spent"),
                    "503": retry_later("`temporarily_unavailable`: the database is unavailable; retry")
                }
            }
        }),
    );
    paths.insert(
        format!("{issuer_path}/secret-scanning/github"),
        partner_report(
            "report_github_secret_scanning",
            "Github",
            "200",
            "GitHub secret scanning partner report",
        ),
    );
    paths.insert(
        format!("{issuer_path}/secret-scanning/gitlab"),
        partner_report(
            "report_gitlab_secret_scanning",
            "Gitlab",
            "202",
            "GitLab secret detection report",
        ),
    );
}

/// The back-channel logout receiver.
fn logout_path(paths: &mut serde_json::Map<String, Value>, issuer_path: &str) {
    paths.insert(
        format!("{issuer_path}/oauth2/backchannel-logout"),
        json!({
            "post": {
                "tags": ["logout"],
                "operationId": "backchannel_logout",
                "summary": "OpenID Connect Back-Channel Logout 1.0",
                "description": "An authorisation server configured as `[[logout.upstream]]` \
                                ends a login session: every live grant of the logout token's \
                                `sid` (or, without one, of its `sub`) among that server's \
                                clients is revoked before the answer. Off (`404`) while no \
                                upstream is configured.",
                "requestBody": {
                    "required": true,
                    "content": { "application/x-www-form-urlencoded": { "schema": {
                        "type": "object",
                        "required": ["logout_token"],
                        "properties": { "logout_token": {
                            "type": "string",
                            "description": "A signed logout token (compact JWS)"
                        } }
                    } } }
                },
                "responses": {
                    "200": {
                        "description": "Every grant the token names is revoked",
                        "headers": { "Cache-Control": { "$ref": "#/components/headers/Cache-Control" } }
                    },
                    "400": error("`invalid_request`: no form body, no or several `logout_token`, \
                                  or a token refused (invalid, expired, replayed, from an issuer \
                                  not configured)"),
                    "404": error("`not_found`: no upstream is configured"),
                    "405": { "$ref": "#/components/responses/MethodNotAllowed" },
                    "408": error("`invalid_request`: the body did not arrive in time"),
                    "413": error("`invalid_request`: the body is larger than `server.body_limit`"),
                    "503": retry_later("`temporarily_unavailable`: the database is unavailable; retry")
                }
            }
        }),
    );
}

/// The probes, always at the root.
fn health_paths(paths: &mut serde_json::Map<String, Value>) {
    let health = |operation_id: &str, summary: &str, answers: Value| {
        json!({
            "get": {
                "tags": ["health"],
                "operationId": operation_id,
                "summary": summary,
                "responses": answers
            }
        })
    };
    paths.insert(
        "/health/live".to_owned(),
        health(
            "health_live",
            "The process is up (never touches the database); always at the root",
            json!({
                "200": { "description": "Up", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } }
            }),
        ),
    );
    paths.insert(
        "/health/ready".to_owned(),
        health(
            "health_ready",
            "The database answers and its schema is one this binary works with; always at the root",
            json!({
                "200": { "description": "Ready", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } },
                "503": { "description": "Not ready: take this instance out of rotation", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } }
            }),
        ),
    );
}

/// What the paths refer to.
fn components() -> Value {
    json!({
        "securitySchemes": {
            "client_secret_basic": {
                "type": "http",
                "scheme": "basic",
                "description": "The client id and secret, each form-encoded, then joined \
                                with `:` and base64-encoded (RFC 6749 §2.3.1). The same \
                                credentials may instead be sent in the form \
                                (`client_secret_post`), never both."
            }
        },
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "required": true,
                "schema": { "type": "integer", "minimum": 1 }
            },
            "Cache-Control": {
                "required": true,
                "schema": { "type": "string", "const": "no-store" }
            }
        },
        "responses": {
            "MethodNotAllowed": {
                "description": "`invalid_request`: this method is not served here",
                "headers": { "Allow": { "required": true, "schema": { "type": "string" } } },
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/OAuthError" } } }
            }
        },
        "schemas": schemas()
    })
}

/// RFC 7662 §2.2: the introspection answer.
fn introspection_answer() -> Value {
    json!({
        "description": "RFC 7662 §2.2: a live token's claims, or only `active: false`",
        "oneOf": [
            {
                "type": "object",
                "required": ["active", "client_id", "sub", "exp", "iat", "token_type"],
                "additionalProperties": false,
                "properties": {
                    "active": { "const": true },
                    "client_id": { "type": "string" },
                    "sub": { "type": "string" },
                    "scope": { "type": "string" },
                    "exp": { "type": "integer", "description": "Unix seconds" },
                    "iat": { "type": "integer", "description": "Unix seconds" },
                    "token_type": { "enum": ["Bearer", "refresh_token"] }
                }
            },
            {
                "type": "object",
                "required": ["active"],
                "additionalProperties": false,
                "properties": { "active": { "const": false } }
            }
        ]
    })
}

/// The request and answer bodies.
fn schemas() -> Value {
    json!({
        "OAuthError": {
            "type": "object",
            "description": "RFC 6749 §5.2 error answer",
            "required": ["error", "error_description"],
            "properties": {
                "error": {
                    "type": "string",
                    "enum": ["invalid_request", "invalid_client", "unauthorized_client",
                             "temporarily_unavailable", "server_error", "not_found",
                             "invalid_signature"]
                },
                "error_description": { "type": "string" }
            }
        },
        "RevocationRequest": token_form("An RFC 7009 revocation request"),
        "IntrospectionRequest": token_form("An RFC 7662 introspection request"),
        "IntrospectionResponse": introspection_answer(),
        "Metadata": {
            "type": "object",
            "description": "RFC 8414 metadata; `metadata.extra` adds fields",
            "required": ["issuer", "revocation_endpoint",
                         "revocation_endpoint_auth_methods_supported",
                         "introspection_endpoint",
                         "introspection_endpoint_auth_methods_supported"],
            "properties": {
                "issuer": { "type": "string", "format": "uri" },
                "revocation_endpoint": { "type": "string", "format": "uri" },
                "revocation_endpoint_auth_methods_supported": {
                    "type": "array", "items": { "enum": REVOCATION_AUTH_METHODS }
                },
                "introspection_endpoint": { "type": "string", "format": "uri" },
                "introspection_endpoint_auth_methods_supported": {
                    "type": "array", "items": { "enum": INTROSPECTION_AUTH_METHODS }
                }
            }
        },
        "PublicReport": {
            "type": "object",
            "required": ["credentials"],
            "additionalProperties": false,
            "properties": {
                "credentials": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_PUBLIC_CREDENTIALS,
                    "items": { "type": "string" }
                }
            }
        },
        "ScannerReports": {
            "type": "array",
            "maxItems": MAX_REPORTS,
            "items": {
                "type": "object",
                "required": ["token"],
                "properties": {
                    "token": { "type": "string" },
                    "type": { "type": "string" },
                    "url": { "type": "string" },
                    "source": { "type": "string" }
                }
            }
        },
        "ScannerFeedback": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["token_hash", "token_type", "label"],
                "properties": {
                    "token_hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                    "token_type": { "type": "string" },
                    "label": { "enum": ["true_positive", "false_positive"] }
                }
            }
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": { "enum": ["ok", "ready", "unavailable"] },
                "reason": {
                    "enum": ["migrations_pending", "database_unreachable", "database_timeout"]
                },
                "applied": { "type": "integer" },
                "expected": { "type": "integer" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_the_issuers_origin() {
        assert_eq!(origin("https://id.example.com"), "https://id.example.com");
        assert_eq!(
            origin("https://id.example.com:8443/tenant1/"),
            "https://id.example.com:8443"
        );
    }
}
