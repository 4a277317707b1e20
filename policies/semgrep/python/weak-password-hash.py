import hashlib


def store(password, data):
    # ruleid: python-weak-password-hash, python-weak-hash-md5-sha1
    digest = hashlib.md5(password.encode()).hexdigest()
    # ruleid: python-weak-password-hash
    other = hashlib.sha256(password.encode()).hexdigest()
    # ruleid: python-weak-hash-md5-sha1
    etag = hashlib.sha1(data).hexdigest()
    # ok: python-weak-password-hash
    good = hashlib.pbkdf2_hmac("sha256", password.encode(), b"salt-value", 600_000)
    # ok: python-weak-hash-md5-sha1
    cache_key = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return digest, other, etag, good, cache_key
