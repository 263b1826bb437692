#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/seed-*): a few valid and invalid inputs per
target. The fuzzer's own finds go next to them and are not committed (see .gitignore)."""
import base64, hashlib, hmac, json, os, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW = 1_800_000_000  # tokens::now() in src/tokens.rs
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(ROOT, target, f"seed-{name}"), "wb") as f:
        f.write(data)


def b62(n, width):
    out = ""
    while n:
        n, d = divmod(n, 62)
        out = B62[d] + out
    return out.rjust(width, "0")


def api_key(prefix, body33):
    head = f"{prefix}_{body33}"
    return head + b62(zlib.crc32(head.encode()), 6)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, header=b'{"alg":"HS256"}'):
    payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = f"{b64(header)}.{b64(payload)}"
    tag = hmac.new(bytes([7] * 32), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(tag)}"


CLAIMS = {
    "iss": "keymint", "sub": "acme", "aud": "keymint", "iat": NOW, "nbf": NOW,
    "exp": NOW + 900, "jti": "4f1c2a9e-5b7d-4c3e-8a6f-0d9b1e2c3a4f",
    "scope": "calls:read agents:read", "key_id": "AbCdEfGhIjK",
}

# Request bodies: each dialect's fixture holds its own (src/api/<dialect>/fixture.rs); the body
# target writes them into its corpus when it starts.

# API keys: well-formed ones of two prefixes, then one of each refusal.
write("apikey", "readme", "km_0wm4pUs0oys2pZuUxsK3MrXp2dXBt3EV31oes8g")
write("apikey", "valid", api_key("km", "0wm4pUs0oys2pZuUxsK3MrXp2dXBt3EV3"))
write("apikey", "valid-mem", api_key("mem", "AbCdEfGhIjK0123456789abcdefghijkl"))
write("apikey", "bad-checksum", api_key("km", "0wm4pUs0oys2pZuUxsK3MrXp2dXBt3EV3")[:-1] + "0")
write("apikey", "bad-prefix", api_key("Km", "0wm4pUs0oys2pZuUxsK3MrXp2dXBt3EV3"))

# Tokens: a genuine HS256 token, then the classic forgeries.
genuine = hs256(CLAIMS)
write("token_verify", "hs256-genuine", genuine)
payload = genuine.split(".")[1]
write("token_verify", "alg-none", b64(b'{"alg":"none"}') + "." + payload + ".")
write("token_verify", "expired", hs256({**CLAIMS, "exp": NOW - 3600}))
write("token_verify", "es256-header", b64(b'{"alg":"ES256","kid":"k1"}') + "." + payload + "." + "A" * 86)
write("token_verify", "two-segments", ".".join(genuine.split(".")[:2]))

# Mutations: the first byte picks the algorithm, the next two the clock skew, the rest edits.
write("token_mutate", "hs256-untouched", b"\x00\x00\x00")
write("token_mutate", "es256-untouched", b"\x01\x00\x00")
write("token_mutate", "eddsa-untouched", b"\x02\x00\x00")
write("token_mutate", "rs256-untouched", b"\x03\x00\x00")
write("token_mutate", "edits", bytes(range(0, 64)))

# Claims: the first byte picks the algorithm, the rest is the payload signed with its key.
write("token_claims", "hs256-valid", b"\x00" + json.dumps(CLAIMS).encode())
write("token_claims", "eddsa-valid", b"\x02" + json.dumps(CLAIMS).encode())
write("token_claims", "rs256-valid", b"\x03" + json.dumps(CLAIMS).encode())
write("token_claims", "wrong-audience", b"\x00" + json.dumps({**CLAIMS, "aud": "other"}).encode())
write("token_claims", "string-exp", b"\x01" + json.dumps({**CLAIMS, "exp": str(NOW)}).encode())
write("token_claims", "no-sub", b"\x00" + json.dumps({k: v for k, v in CLAIMS.items() if k != "sub"}).encode())
