"""An independent JOSE implementation for tests/api/jose.rs: PyJWT on
cryptography, pinned in tests/support/python.sh.

Reads one JSON request on standard input and writes one JSON answer:

- {"op": "verify-sets", "jwks": {...}, "tokens": [...], "issuer": ..., "audience": ...}
  verifies each Security Event Token against the published key set (the key
  the header's kid names, with the algorithm that key's JWK declares) and
  answers [{"ok": true, "header": ..., "claims": ...} or {"ok": false,
  "error": ...}], plus "key_sizes": {kid: bits} for the set's RSA keys.
- {"op": "verify-polled", "jwks_uri": ..., "sets": {jti: token}, "issuer": ...,
  "audience": ...} fetches the key set over HTTP from jwks_uri (as a
  receiver would) and checks each polled token as SSF 1.0 and RFC 8417 ask:
  typ secevent+jwt, a kid in the set, the signature with that key's
  algorithm, iss/aud/iat/jti present and jti the one it was polled under, no
  sub and no exp, exactly one event of a known type, and a sub_id of an
  RFC 9493 format with its members. Answers {jti: {"ok": true, "header",
  "claims"} or {"ok": false, "error"}}.
- {"op": "logout-tokens", "cases": [{"name", "key": "rsa"|"ec", "alg",
  "kid", "claims", "form"}]} makes an RSA 2048 and an EC P-256 key, signs a
  logout token per case and answers {"jwks": ..., "tokens": {name: token}}.
  "form" makes the bad ones: "none" (alg none, no signature), "hmac-public"
  (HS256 with the RSA public key's PEM as the secret: PyJWT refuses to do
  that, so the JWS is put together here), "tampered" (claims swapped after
  signing: "claims" are signed, "tampered_claims" are sent).
"""

import base64
import hashlib
import hmac
import json
import sys
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value):
    return b64(json.dumps(value, separators=(",", ":")).encode())


def verify_sets(request):
    key_set = jwt.PyJWKSet.from_dict(request["jwks"])
    results = []
    for token in request["tokens"]:
        header = jwt.get_unverified_header(token)
        try:
            if header.get("typ") != "secevent+jwt":
                raise ValueError("typ is not secevent+jwt")
            key = key_set[header["kid"]]
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                issuer=request["issuer"],
                audience=request["audience"],
                options={"require": ["iss", "aud", "iat", "jti"]},
            )
            results.append({"ok": True, "header": header, "claims": claims})
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
    sizes = {
        key.key_id: key.key.key_size
        for key in key_set.keys
        if isinstance(key.key, rsa.RSAPublicKey)
    }
    return {"results": results, "key_sizes": sizes}


EVENT_TYPES = {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
    "https://schemas.openid.net/secevent/ssf/event-type/verification",
}
SUBJECT_MEMBERS = {"iss_sub": {"iss", "sub"}, "opaque": {"id"}, "email": {"email"}}


def check_subject(subject):
    members = SUBJECT_MEMBERS.get(subject.get("format"))
    if members is None or set(subject) != members | {"format"}:
        raise ValueError(f"sub_id is not an RFC 9493 identifier: {subject}")
    if not all(isinstance(subject[m], str) and subject[m] for m in members):
        raise ValueError("a sub_id member is empty")


def verify_polled(request):
    with urllib.request.urlopen(request["jwks_uri"], timeout=10) as answer:
        key_set = jwt.PyJWKSet.from_dict(json.load(answer))
    results = {}
    for jti, token in request["sets"].items():
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "secevent+jwt":
                raise ValueError("typ is not secevent+jwt")
            key = key_set[header["kid"]]
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                issuer=request["issuer"],
                audience=request["audience"],
                options={"require": ["iss", "aud", "iat", "jti"]},
            )
            if claims["jti"] != jti:
                raise ValueError("polled under another jti")
            if "sub" in claims or "exp" in claims:
                raise ValueError("a SET carries sub or exp")
            events = claims.get("events")
            if not isinstance(events, dict) or len(events) != 1:
                raise ValueError("not exactly one event")
            if not set(events) <= EVENT_TYPES:
                raise ValueError(f"unknown event type {list(events)}")
            check_subject(claims["sub_id"])
            results[jti] = {"ok": True, "header": header, "claims": claims}
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            results[jti] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return results


def logout_tokens(request):
    keys = {
        "rsa": (rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm, "RS256"),
        "ec": (ec.generate_private_key(ec.SECP256R1()), ECAlgorithm, "ES256"),
    }
    jwks = []
    for kid, (private, algorithm, alg) in keys.items():
        jwk = algorithm.to_jwk(private.public_key(), as_dict=True)
        jwk.update({"kid": kid, "use": "sig", "alg": alg})
        jwks.append(jwk)
    tokens = {}
    for case in request["cases"]:
        private = keys[case["key"]][0]
        header = {"alg": case["alg"], "typ": "logout+jwt"}
        if case.get("kid") is not None:
            header["kid"] = case["kid"]
        form = case.get("form", "signed")
        if form == "none":
            token = f"{b64_json(header)}.{b64_json(case['claims'])}."
        elif form == "hmac-public":
            secret = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            signing_input = f"{b64_json(header)}.{b64_json(case['claims'])}"
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{b64(mac)}"
        else:
            extra = {k: v for k, v in header.items() if k != "alg"}
            token = jwt.encode(case["claims"], private, algorithm=case["alg"], headers=extra)
            if form == "tampered":
                head, _, signature = token.split(".")
                token = f"{head}.{b64_json(case['tampered_claims'])}.{signature}"
        tokens[case["name"]] = token
    return {"jwks": {"keys": jwks}, "tokens": tokens}


def main():
    request = json.load(sys.stdin)
    operations = {
        "verify-sets": verify_sets,
        "verify-polled": verify_polled,
        "logout-tokens": logout_tokens,
    }
    json.dump(operations[request["op"]](request), sys.stdout)


if __name__ == "__main__":
    main()
