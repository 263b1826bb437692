"""Schemathesis hooks: give schema-valid (positive) requests a real key where a dialect takes
credentials in the body, so their success paths are conformance-tested too. Where a body holds
the key id and the key is read from keymint's registry (`keymint dialects --json`, which run.sh
passes in KEYMINT_DIALECTS_JSON), never written here. Negative cases are left as generated."""
import json
import os

import schemathesis
from schemathesis.generation.modes import GenerationMode

KEY_ID = os.environ["KEYMINT_CONFORMANCE_KEY_ID"]
KEY = os.environ["KEYMINT_CONFORMANCE_KEY"]
# (pointer, value) lists, one per dialect that carries credentials in its body.
CREDENTIALS = [
    [(p, KEY_ID) for p in d["token"]["key_id_pointers"]] + [(p, KEY) for p in d["token"]["key_pointers"]]
    for d in json.loads(os.environ["KEYMINT_DIALECTS_JSON"])
    if d["token"] and (d["token"]["key_id_pointers"] or d["token"]["key_pointers"])
]


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _parent(body, pointer):
    """The object holding a JSON pointer's last member, and that member's name."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts[:-1]:
        if not isinstance(body, dict) or not isinstance(body.get(part), dict):
            return None, None
        body = body[part]
    return (body, parts[-1]) if isinstance(body, dict) else (None, None)


# Form parameters that carry client credentials (client_secret_post): a schema-valid request
# that sends them beside the HTTP Basic credentials run.sh gives is refused (one method only,
# RFC 6749 §2.3), which no schema can say.
POSTED_CREDENTIALS = ("client_id", "client_secret")


# rotateKey: an If-Match naming a key id the run cannot know is 412 (RFC 9110 §13.1.1), and an
# expiry must be later than now; no schema can say either (tests/api/admin_keys.rs tests both).
FAR_FUTURE = "2099-01-01T00:00:00Z"


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not _positive(case):
        return
    if case.path.endswith("/rotations") and case.path.startswith("/accounts/"):
        for name in [h for h in (case.headers or {}) if h.lower() == "if-match"]:
            del case.headers[name]
        if isinstance(body, dict) and "expires_at" in body:
            body["expires_at"] = FAR_FUTURE
    if not isinstance(body, dict):
        return
    if case.path.startswith("/oauth2/"):
        for name in POSTED_CREDENTIALS:
            body.pop(name, None)
    for pointers in CREDENTIALS:
        slots = [(_parent(body, pointer), value) for pointer, value in pointers]
        if all(parent is not None and isinstance(parent.get(name), str) for (parent, name), _ in slots):
            for (parent, name), value in slots:
                parent[name] = value
            return
