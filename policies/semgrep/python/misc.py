import os
import socket
import tempfile

import jwt


def handle(token, key, path):
    # ruleid: python-jwt-verify-disabled
    claims = jwt.decode(token, options={"verify_signature": False})
    # ok: python-jwt-verify-disabled
    good = jwt.decode(token, key, algorithms=["HS256"])
    # ruleid: python-tempfile-mktemp
    name = tempfile.mktemp()
    # ok: python-tempfile-mktemp
    fd, name2 = tempfile.mkstemp()
    # ruleid: python-world-writable-chmod
    os.chmod(path, 0o777)
    # ok: python-world-writable-chmod
    os.chmod(path, 0o600)
    s = socket.socket()
    # ruleid: python-bind-all-interfaces
    s.bind(("0.0.0.0", 8080))
    # ok: python-bind-all-interfaces
    s.bind(("127.0.0.1", 8080))
    return claims, good, name, fd, name2
