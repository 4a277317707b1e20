"""Fake secrets (obviously fake, realistic in shape) and benign look-alikes, assembled at runtime.

The values are built from parts so that scanners run over THIS repository do not flag the
corpus itself; once joined they have exactly the shape the detectors look for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid


def _j(*parts: str) -> str:
    return "".join(parts)


def _b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _pem(kind: str, body_seed: str) -> str:
    body = base64.b64encode((body_seed * 40).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, 256, 64)]
    begin, end = _j("-----BEGIN ", kind, " PRIVATE KEY-----"), _j("-----END ", kind, " PRIVATE KEY-----")
    return "\n".join([begin, *lines, end]) + "\n"


FAKE_JWT = ".".join(
    [_b64url({"alg": "HS256", "typ": "JWT"}), _b64url({"sub": "fake-user-0001", "iat": 1700000000}),
     "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1zaWduYXR1cmU"]
)  # fmt: skip

# (name, file path, content, 1-based line of the secret)
SECRETS: list[tuple[str, str, str, int]] = [
    ("aws-access-key-id", "app/aws.py", _j('import boto3\n\nKEY_ID = "', "AKIA", "IOSFODNN7", 'EXAMPLE"\n'), 3),
    ("aws-secret-key", "config/aws.ini",
     _j("[default]\nregion = eu-west-1\naws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY\n"), 3),
    ("github-classic-pat", "scripts/release.sh", _j("#!/bin/sh\nexport GH_TOKEN=", "ghp_", "Ex4mpleT0ken" * 3, "\n"), 2),
    ("github-fine-grained-pat", "ci/settings.json",
     _j('{\n  "token": "', "github_pat_", "11EXAMPLE0FAKE0TOKEN0_", "Ex4mple" * 8, "Xy1", '"\n}\n'), 2),
    ("gitlab-pat", "deploy/gitlab.yaml", _j("gitlab:\n  url: https://gitlab.example.invalid\n  token: ", "glpat-", "Ex4mpleFakeT0ken1234", "\n"), 3),
    ("slack-bot-token", "bot/slack.js", _j('const slack = new WebClient("', "xoxb-", "123456789012-1234567890123-", "Ex4mpleFakeSlackT0ken12", '");\n'), 1),
    ("slack-webhook", "bot/notify.py",
     _j('WEBHOOK = "https://hooks.slack.com/services/', "T0EXAMPLE1", "/B0EXAMPLE2/", "Ex4mpleWebh00kT0kenFake1", '"\n'), 1),
    ("stripe-live-secret", "billing/stripe.py", _j('import stripe\n\nstripe.api_key = "', "sk_live_", "Ex4mpleFakeStr1peKey0000", '"\n'), 3),
    ("stripe-restricted", "billing/keys.ts", _j('export const STRIPE = "', "rk_live_", "Ex4mpleFakeRestr1cted000", '";\n'), 1),
    ("google-api-key", "web/maps.js", _j('const MAPS_KEY = "', "AIza", "SyEx4mple-FakeGoogleApiKey000000000", '";\n'), 1),
    ("google-oauth-secret", "web/oauth.json", _j('{"client_id": "1234.apps.example", "client_secret": "', "GOCSPX-", "Ex4mpleFakeOauthSecret000000", '"}\n'), 1),
    ("rsa-private-key", "certs/deploy_key.txt", _pem("RSA", "fake-rsa-key-for-tests "), 1),
    ("openssh-private-key", "keys/ci_key.txt", _pem("OPENSSH", "fake-openssh-key-for-tests "), 1),
    ("ec-private-key", "keys/signing.txt", _pem("EC", "fake-ec-key-for-tests "), 1),
    ("password-yaml", "config/database.yaml", "database:\n  host: db.internal\n  user: app\n  password: Sup3r-S3cret-Pr0d-Passw0rd\n", 4),
    ("password-json", "config/prod.json", _j('{\n  "db_user": "app",\n  "db_password": ', '"Tr0ub4dor-and-3-Horses"\n}\n'), 3),
    ("password-python", "app/settings.py", _j("DEBUG = False\nADMIN_PASSWORD = ", '"n0t-a-real-Passw0rd-42"\n'), 2),
    ("password-ini", "config/app.ini", "[smtp]\nhost = smtp.example.invalid\npassword = Xk9-fake-smtp-Passw0rd\n", 3),
    ("postgres-url", "app/db.py", _j('DATABASE_URL = "postgres://app:', "Sup3rS3cretDbPw", '@db.internal:5432/app"\n'), 1),
    ("mongodb-url", "api/mongo.ts", _j('const uri = "mongodb+srv://admin:', "Fake-M0ngo-Passw0rd", '@cluster0.example.invalid/app";\n'), 1),
    ("redis-url", "docker/compose.env.yaml", _j("services:\n  cache:\n    url: redis://default:", "R3dis-Fake-Passw0rd", "@redis:6379/0\n"), 3),
    ("jwt", "tests_data/session.txt", _j("Authorization: Bearer ", FAKE_JWT, "\n"), 1),
    ("npm-token", "tools/publish.py", _j('NPM_TOKEN = "', "npm_", "Ex4mpleFakeNpmT0ken00000000000000000", '"\n'), 1),
    ("pypi-token", "tools/upload.cfg", _j("[pypi]\nusername = __token__\npassword = ", "pypi-AgEIcHlwaS5vcmc", "Ex4mpleFake" * 7, "\n"), 3),
    ("sendgrid-key", "mail/send.py", _j('SENDGRID = "', "SG.", "Ex4mpleFakeSendgr1dK3y", ".", "Ex4mpleFakeSendgr1dSecretPartForTests0000ab", '"\n'), 1),
    ("twilio-key", "sms/twilio.js", _j('const twilioKey = "', "SK", "0123456789abcdef" "fedcba9876543210", '";\n'), 1),
    ("openai-key", "ai/client.py", _j('client = OpenAI(api_key="', "sk-proj-", "Ex4mpleFakeOpenAiKey", "T3BlbkFJ", "Ex4mpleFakeOpenAiKey", '")\n'), 1),
    ("azure-storage", "infra/storage.txt",
     _j("DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey=", base64.b64encode(b"fake-azure-key" * 5).decode()[:86], "==\n"), 1),
    ("basic-auth-url", "scripts/fetch.sh", _j("curl https://deploy:", "Fake-B4sic-Auth-Pw", "@artifacts.example.invalid/build.tgz\n"), 1),
]

_PNG = base64.b64encode(bytes(range(256)) * 2).decode()

# (name, file path, content)
BENIGN: list[tuple[str, str, str]] = [
    ("sha256-hex", "data/checksums.txt", "app.tar.gz " + hashlib.sha256(b"release").hexdigest() + "\n"),
    ("git-sha", "docs/changelog.md", "Fixed in commit " + hashlib.sha1(b"fix").hexdigest() + ".\n"),
    ("md5-etag", "api/cache.py", 'ETAG = "' + hashlib.md5(b"body").hexdigest() + '"\n'),
    ("uuid4", "app/ids.py", f'DEFAULT_TENANT = "{uuid.UUID(int=0x1234_5678_9abc_4def_8123_4567_89ab_cdef)}"\n'),
    ("uuid-json", "data/fixture.json", json.dumps({"id": str(uuid.UUID(int=0xdeadbeef_cafe_4bab_8e00_112233445566))}) + "\n"),
    ("placeholder-changeme", "config/example.yaml", "database:\n  password: changeme\n"),
    ("env-template", "config/prod.yaml", "database:\n  password: ${DB_PASSWORD}\n"),
    ("env-lookup", "app/config.py", 'import os\n\nPASSWORD = os.environ["DB_PASSWORD"]\n'),
    ("angle-placeholder", "docs/setup.md", "Set `api_key: <your-api-key>` in the config.\n"),
    ("aws-placeholder", "docs/aws.md", "export AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\n"),
    ("data-uri-png", "web/logo.css", f".logo {{ background: url(data:image/png;base64,{_PNG[:200]}); }}\n"),
    ("npm-integrity", "web/package-lock.json",
     json.dumps({"packages": {"node_modules/left": {"integrity": "sha512-" + base64.b64encode(hashlib.sha512(b"x").digest()).decode()}}}) + "\n"),
    ("docker-digest", "deploy/image.txt", "registry.example.invalid/app@sha256:" + hashlib.sha256(b"img").hexdigest() + "\n"),
    ("css-colors", "web/theme.css", ":root { --primary: #1a2b3c; --accent: #ff8800; }\n"),
    ("plain-url", "app/client.py", 'BASE_URL = "https://api.example.invalid/v1/users"\n'),
    ("ssh-git-url", "scripts/clone.sh", "git clone git@github.com:example/project.git\n"),
    ("form-field", "web/login.html", '<input type="password" name="password" placeholder="Password">\n'),
    ("i18n", "web/en.json", '{"auth.password.reset": "Reset your password", "auth.token.expired": "Session expired"}\n'),
    ("k8s-secret-ref", "deploy/k8s.yaml",
     "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password\n"),
    ("terraform-var", "infra/vars.tf", 'variable "db_password" {\n  type      = string\n  sensitive = true\n}\n'),
    ("sri-hash", "web/index.html",
     '<script src="app.js" integrity="sha384-' + base64.b64encode(hashlib.sha384(b"js").digest()).decode() + '"></script>\n'),
    ("ssh-public-key", "keys/authorized_keys.txt",
     "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + bytes(32)).decode() + " dev@example.invalid\n"),
    ("version-pins", "requirements-dev.txt", "pytest==8.3.3\nruff==0.6.9\n"),
    ("test-password-hash", "tests_data/test_auth.py", 'def test_hash():\n    assert hash_password("x") != "x"\n'),
    ("docs-key-ellipsis", "docs/openai.md", "export OPENAI_API_KEY=sk-...\n"),
    ("mongo-objectid", "data/users.json", '{"_id": "507f1f77bcf86cd799439011", "name": "Ada"}\n'),
    ("random-b64-blob", "data/blob.txt", base64.b64encode(hashlib.sha512(b"seed").digest()).decode() + "\n"),
]

# status words next to a keyword: states and names, not credentials
BENIGN += [
    ("status-word", "app/report.py", 'gates["security.secrets"] = "skipped"\nassert gates["secrets"] == "pass"\n'),
    ("env-var-name", "app/env.py", 'PASSWORD_ENV = "APP_MASTER_PASSWORD"\nSECRET_KEY_VAR = "DJANGO_SECRET_KEY"\n'),
]
