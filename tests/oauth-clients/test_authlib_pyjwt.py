"""Authlib (the client) and PyJWT (a resource server), unmodified, against keymint's OAuth 2.0
dialect: the client credentials grant with either client authentication method, introspection
and revocation through Authlib, and verification against the JWKS the metadata names.

Run through tests/oauth-clients/run.sh, which starts keymint and sets the KEYMINT_* variables.
"""

import json
import os
import unittest

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from jwt.utils import base64url_decode, base64url_encode

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
DEFAULT_AUDIENCE = "keymint"


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests through tests/oauth-clients/run.sh")
    return value


ISSUER = env("KEYMINT_URL")
ACCOUNT = env("KEYMINT_ACCOUNT")
KEY_ID = env("KEYMINT_KEY_ID")
KEY = env("KEYMINT_KEY")
ALG = env("KEYMINT_ALG")
RESOURCE = env("KEYMINT_RESOURCE")
METADATA = requests.get(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=10).json()


def session(method):
    return OAuth2Session(KEY_ID, KEY, token_endpoint_auth_method=method)


def fetch_token(method="client_secret_basic", **parameters):
    with session(method) as client:
        return client.fetch_token(METADATA["token_endpoint"], grant_type="client_credentials", **parameters)


class AuthlibFetchesTokens(unittest.TestCase):
    def test_either_auth_method_gets_a_bearer_token_with_every_scope_the_key_may_grant(self):
        for method in AUTH_METHODS:
            with self.subTest(method=method):
                token = fetch_token(method)
                self.assertEqual(token["token_type"].lower(), "bearer")
                self.assertGreater(token["expires_in"], 0)
                self.assertEqual(sorted(token["scope"].split()), sorted(METADATA["scopes_supported"]))

    def test_a_requested_scope_is_all_the_token_carries(self):
        for method in AUTH_METHODS:
            with self.subTest(method=method):
                self.assertEqual(fetch_token(method, scope="calls:read")["scope"], "calls:read")

    def test_either_auth_method_introspects_then_revokes_a_token(self):
        for method in AUTH_METHODS:
            with self.subTest(method=method), session(method) as client:
                token = fetch_token(method)["access_token"]

                active = client.introspect_token(METADATA["introspection_endpoint"], token=token)
                self.assertEqual(active.status_code, 200, active.text)
                self.assertTrue(active.json()["active"])
                self.assertEqual(active.json()["client_id"], KEY_ID)

                revoked = client.revoke_token(METADATA["revocation_endpoint"], token=token)
                self.assertEqual(revoked.status_code, 200, revoked.text)
                after = client.introspect_token(METADATA["introspection_endpoint"], token=token)
                self.assertEqual(after.json(), {"active": False})

    def test_a_wrong_secret_is_refused_as_invalid_client_with_either_auth_method(self):
        for method in AUTH_METHODS:
            with self.subTest(method=method), OAuth2Session(KEY_ID, KEY + "x", token_endpoint_auth_method=method) as client:
                with self.assertRaises(OAuthError) as refused:
                    client.fetch_token(METADATA["token_endpoint"], grant_type="client_credentials")
                self.assertEqual(refused.exception.error, "invalid_client")

    def test_an_unknown_scope_is_refused_as_invalid_scope(self):
        with self.assertRaises(OAuthError) as refused:
            fetch_token(scope="calls:delete")
        self.assertEqual(refused.exception.error, "invalid_scope")


class PyJWTVerifiesTokens(unittest.TestCase):
    jwks = jwt.PyJWKClient(METADATA["jwks_uri"])

    def verify(self, token, audience=DEFAULT_AUDIENCE):
        key = self.jwks.get_signing_key_from_jwt(token).key
        return jwt.decode(
            token,
            key,
            algorithms=[ALG],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]},
        )

    def test_a_token_for_the_default_audience_verifies_and_is_typed_at_jwt(self):
        token = fetch_token(scope="calls:read")["access_token"]
        header = jwt.get_unverified_header(token)
        self.assertEqual(header["typ"], "at+jwt")
        self.assertEqual(header["alg"], ALG)
        claims = self.verify(token)
        self.assertEqual(claims["sub"], ACCOUNT)
        self.assertEqual(claims["client_id"], KEY_ID)
        self.assertEqual(claims["scope"], "calls:read")

    def test_a_token_for_a_resource_verifies_only_for_that_audience(self):
        token = fetch_token("client_secret_post", resource=RESOURCE)["access_token"]
        self.assertEqual(self.verify(token, audience=RESOURCE)["aud"], RESOURCE)
        with self.assertRaises(jwt.InvalidAudienceError):
            self.verify(token)

    def test_a_token_changed_after_signing_is_refused(self):
        header, payload, signature = fetch_token()["access_token"].split(".")
        claims = json.loads(base64url_decode(payload))
        forged = base64url_encode(json.dumps({**claims, "sub": "someone-else"}).encode()).decode()
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verify(f"{header}.{forged}.{signature}")


if __name__ == "__main__":
    unittest.main()
