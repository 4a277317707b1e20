import random
import secrets
import string
import tarfile

from flask import render_template_string


def make(user_template, name, archive, dest):
    # ruleid: python-insecure-random-secret
    reset_token = "".join(random.choice(string.ascii_letters) for _ in range(32))
    # ruleid: python-insecure-random-secret
    session_id = random.getrandbits(128)
    # ok: python-insecure-random-secret
    api_token = secrets.token_urlsafe(32)
    # ok: python-insecure-random-secret
    delay = random.uniform(0.1, 0.5)
    # ruleid: python-template-injection
    page = render_template_string(user_template, name=name)
    # ok: python-template-injection
    hello = render_template_string("Hello {{ name }}", name=name)
    with tarfile.open(archive) as tar:
        # ruleid: python-tar-extractall
        tar.extractall(dest)
        # ok: python-tar-extractall
        tar.extractall(dest, filter="data")
    return reset_token, session_id, api_token, delay, page, hello
