"""Keep every fragment of the real key out of everything the gateway emits.

A fragment is any run of at least MIN_FRAGMENT characters of the key (the whole key, a truncated
key, its last eight characters...) that is not wholly inside its public prefix (`sk-proj-`, which
every key of that kind shares), or a masked form: a mask (`*`, `...`, `…`, `•`, also JSON-escaped)
followed by the key's last 4+ characters, with whatever key-shaped prefix comes before the mask
(`sk-proj-****abcd`, `sk-…abcd1234`).

Finding them in linear time without a C extension: every fragment of length >= 6 contains one of
the text's 3-byte grams at offsets 0, 4, 8, ... (GRAM + STRIDE - 1 <= MIN_FRAGMENT), so the text is
cut into those grams by `struct` and intersected with the key's grams (both in C); only the rare
hits are verified and extended in Python. Measured here: about 15 ns per byte and 4 µs per chunk.

Streams are redacted across chunk boundaries: a fragment can only lie inside a run of key-shaped
bytes, so the trailing run of each chunk is held back until the next chunk shows where it ends.
SSE events end in a newline, so nothing of a finished event is ever held.
"""

from __future__ import annotations

import re
import string
import struct
from typing import Any

REDACTED = "[REDACTED]"
MIN_FRAGMENT = 6  # shortest run of key characters that counts as a leak
GRAM, STRIDE = 3, 4  # GRAM + STRIDE - 1 must not exceed MIN_FRAGMENT
MASKED_SUFFIX = 4  # shortest key suffix that, right after a mask, counts as a masked key
SHORT_SECRET = 8  # secrets shorter than this are only matched whole
HOLD_MAX = 4096  # longest trailing key-shaped run held back between stream chunks
MASK_MAX, MASKED_PREFIX_MAX = 256, 64  # bounds on a masked form, so a span never grows without end
KEY_CHARS = frozenset((string.ascii_letters + string.digits + "_-").encode())
# Masks as upstreams write them, raw UTF-8 or JSON-escaped; "." counts only when doubled.
MASKS = tuple(
    m.encode()
    for m in ("…", "•", "·", "\\u2026", "\\u2022", "\\u00b7", "\\u00B7", "*", "\\u002a", "\\u002A", ".")
)
MASK_BYTES = frozenset(b"".join(MASKS))
PUBLIC_PREFIX = re.compile(rb"[a-z]{2,4}-(?:[a-z0-9]{2,8}-){0,2}")
# Anything shaped like a credential, whoever's: used on the short messages of upstream errors.
KEY_SHAPED = re.compile(
    r"(?<![\w-])(?:sk|rk|pk|sess)[-_][\w\-*.…•·]{3,}"  # sk-..., rk_live_...
    r"|(?<![\w-])[\w-]*+(?:\*+|…+|•+|·+|\.{2,})[\w-]{2,}"  # masked: sk-****abcd
    r"|(?<![\w-])(?=[\w-]*?\d)(?=[\w-]*?[a-z])(?=[\w-]*?[A-Z])[\w-]{20,}"  # opaque mixed-case tokens
)


def _agree(a: bytes, b: bytes) -> int:
    """Length of the common prefix of a and b (linear for the usual early mismatch, then halving)."""
    n = min(len(a), len(b))
    k = 0
    while k < n and k < 8:
        if a[k] != b[k]:
            return k
        k += 1
    lo, hi = k, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _grams(buf: bytes) -> tuple[bytes, ...]:
    """The GRAM-byte grams of buf starting at every STRIDE-th offset, cut out in C."""
    blocks, rest = divmod(len(buf), STRIDE)
    fmt = f"{GRAM}s{STRIDE - GRAM}x" * blocks + (f"{GRAM}s" if rest >= GRAM else "")
    return struct.unpack_from(fmt, buf)


class _Secret:
    """Finds the fragments of one secret in a buffer."""

    def __init__(self, secret: bytes):
        self.key = secret
        self.rkey = secret[::-1]
        self.whole_only = len(secret) < SHORT_SECRET
        found = PUBLIC_PREFIX.match(secret)
        self.public = found.end() if found and found.end() < len(secret) - MIN_FRAGMENT else 0
        self.offsets: dict[bytes, list[int]] = {}
        for i in range(len(secret) - GRAM + 1):
            self.offsets.setdefault(secret[i : i + GRAM], []).append(i)
        self.grams = frozenset(self.offsets)
        self.suffix = secret[-MASKED_SUFFIX:]
        self.hold = KEY_CHARS | MASK_BYTES | frozenset(secret) | frozenset(b"\\") | frozenset(range(128, 256))

    def spans(self, buf: bytes, out: list[tuple[int, int]]) -> None:
        """Append (start, end) of every fragment and masked form of the secret in buf."""
        if self.whole_only:
            i = buf.find(self.key)
            while i >= 0:
                out.append((i, i + len(self.key)))
                i = buf.find(self.key, i + 1)
            return
        for gram in self.grams.intersection(_grams(buf)):
            for o in self.offsets[gram]:
                # a fragment that starts inside the public prefix counts only if it runs on past it
                needle = self.key[o : self.public + 1] if o + GRAM <= self.public else gram
                i = buf.find(needle)
                while i >= 0:
                    if not i % STRIDE:  # every fragment holds an aligned gram: the others add nothing
                        self._extend(buf, i, o, out)
                    i = buf.find(needle, i + 1)
        self._masked(buf, out)

    def _extend(self, buf: bytes, i: int, o: int, out: list[tuple[int, int]]) -> None:
        """Grow the match of key[o:o+GRAM] at buf[i] both ways; keep it if it is a fragment."""
        key, n = self.key, len(self.key)
        right = GRAM + _agree(buf[i + GRAM : i + n - o], key[o + GRAM :])
        left = _agree(buf[max(0, i - o) : i][::-1], self.rkey[n - o :])
        if right + left >= MIN_FRAGMENT and o + right > self.public:
            out.append((i - left, i + right))

    def _masked(self, buf: bytes, out: list[tuple[int, int]]) -> None:
        """A mask right before the key's last MASKED_SUFFIX+ characters, with the token it ends."""
        i = buf.find(self.suffix)
        while i >= 0:
            end = i + len(self.suffix)
            start = i - _agree(buf[max(0, i - len(self.key)) : i][::-1], self.rkey[len(self.suffix) :])
            p, dots, other = start, 0, 0
            while p > 0 and dots + other < MASK_MAX:
                mask = next((m for m in MASKS if buf.endswith(m, 0, p)), None)
                if mask is None:
                    break
                p -= len(mask)
                dots += mask == b"."
                other += mask != b"."
            if other or dots >= 2:
                visible = p - MASKED_PREFIX_MAX  # the prefix shown before the mask (`sk-proj-`)
                while p > 0 and p > visible and buf[p - 1] in KEY_CHARS:
                    p -= 1
                out.append((p, end))
            i = buf.find(self.suffix, i + 1)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged = [spans[0]]
    for s, e in spans[1:]:
        if s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


class Redactor:
    """Replaces every fragment of the secrets it was given (see the module docstring)."""

    def __init__(self, *secrets: str):
        self._secrets = [_Secret(s.encode()) for s in sorted({s for s in secrets if s and len(s) >= 4})]
        self._hold = frozenset().union(*(s.hold for s in self._secrets))
        self._hold_bytes = bytes(sorted(self._hold))
        self.keep = max((2 * len(s.key) + 64 for s in self._secrets), default=0)

    def spans(self, buf: bytes) -> list[tuple[int, int]]:
        """Merged (start, end) ranges of buf to replace."""
        found: list[tuple[int, int]] = []
        for s in self._secrets:
            s.spans(buf, found)
        return _merge(found) if found else found

    def bytes(self, value: bytes) -> bytes:
        """The bytes with every fragment replaced."""
        if not self._secrets:
            return value
        return _replace(value, self.spans(value), len(value))

    def text(self, value: str) -> str:
        """The string with every fragment replaced."""
        if not self._secrets:
            return value
        return self.bytes(value.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")

    def scrub(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value

    def message(self, value: str, limit: int = 500) -> str:
        """A short human message: this key's fragments and anything else key-shaped removed, then cut."""
        clean = KEY_SHAPED.sub(REDACTED, self.text(value))
        clean = " ".join(clean.split())
        return clean if len(clean) <= limit else clean[: limit - 1] + "…"

    def stream(self) -> StreamRedactor:
        """A redactor for one streamed body, fed chunk by chunk."""
        return StreamRedactor(self)


def _replace(buf: bytes, spans: list[tuple[int, int]], upto: int) -> bytes:
    if not spans:
        return buf[:upto] if upto < len(buf) else buf
    parts, pos = [], 0
    for s, e in spans:
        if s >= upto:
            break
        parts += (buf[pos:s], REDACTED.encode())
        pos = e
    parts.append(buf[pos:upto])
    return b"".join(parts)


class StreamRedactor:
    """Redacts one body across chunk boundaries; `feed` returns what may be sent now, `close` the rest."""

    def __init__(self, redactor: Redactor):
        self.r = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes safe to send: the new chunk minus a trailing key-shaped run, which waits for more."""
        r = self.r
        if not r._secrets:
            return chunk
        buf = self._held + chunk if self._held else chunk
        cut = len(buf.rstrip(r._hold_bytes))
        if len(buf) - cut > HOLD_MAX:  # one endless key-shaped run: keep enough to see any fragment
            cut = max(0, len(buf) - r.keep)
        spans = r.spans(buf)
        for s, e in spans:  # never cut through a fragment: hold all of it back
            if s < cut < e:
                cut = s
                break
        self._held = buf[cut:]
        return _replace(buf, [sp for sp in spans if sp[1] <= cut], cut)

    def close(self) -> bytes:
        """The held-back tail, redacted: the body ended."""
        held, self._held = self._held, b""
        return self.r.bytes(held)
