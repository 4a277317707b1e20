import ssl

import requests


def fetch(url):
    # ruleid: python-tls-verify-disabled
    r = requests.get(url, verify=False, timeout=5)
    # ruleid: python-tls-verify-disabled
    ctx = ssl._create_unverified_context()
    # ruleid: python-tls-verify-disabled
    ctx.verify_mode = ssl.CERT_NONE
    # ok: python-tls-verify-disabled
    ok = requests.get(url, timeout=5)
    # ok: python-tls-verify-disabled
    ctx2 = ssl.create_default_context()
    return r, ok, ctx, ctx2
