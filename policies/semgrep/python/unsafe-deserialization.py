import json
import pickle

import yaml


def load(blob, text):
    # ruleid: python-yaml-unsafe-load
    cfg = yaml.load(text)
    # ruleid: python-yaml-unsafe-load
    other = yaml.unsafe_load(text)
    # ruleid: python-yaml-unsafe-load
    full = yaml.load(text, Loader=yaml.FullLoader)
    # ok: python-yaml-unsafe-load
    fast = yaml.load(text, Loader=yaml.CSafeLoader)
    # ruleid: python-pickle-load
    obj = pickle.loads(blob)
    # ok: python-yaml-unsafe-load
    safe = yaml.safe_load(text)
    # ok: python-yaml-unsafe-load
    also_safe = yaml.load(text, Loader=yaml.SafeLoader)
    # ok: python-pickle-load
    data = json.loads(blob)
    return cfg, other, full, fast, obj, safe, also_safe, data
