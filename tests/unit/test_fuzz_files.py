"""Fuzzed decoders, part three: the files mfsync reads (the config, trust list files, known
hosts, the identity key, the index database).

Property: a reader turns any content into a value or its own error (``ConfigError``,
``TrustFileError``, ``IdentityError``, ``IndexDBError``; known hosts ignore a broken file),
never another exception, and what it takes is usable (keys of 32 bytes, ports that are ports,
records with whole hashes). Allocation peaks are measured as in ``test_fuzz_decoders.py``
(``fuzz_support``), with a larger factor for JSON, because ``json`` itself builds a 56-byte list
from the two bytes ``[]``, and a margin for opening a file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x448
from fuzz_support import (
    ALLOC_MARGIN,
    EXPANSION,
    Mutation,
    alloc_budget,
    apply_mutations,
    fuzz_figures,  # noqa: F401 - an autouse fixture: imported, it counts this module's cases
    fuzz_settings,
    mutated,
    mutations,
    run_decoder,
)
from hypothesis import example, given
from hypothesis import strategies as st

from mfsync.config import SETTINGS, Config, ConfigError, load_config
from mfsync.crypto.keys import Identity, IdentityError, identity_from_der, identity_to_der
from mfsync.protocol.version import VersionVector
from mfsync.store.identity_file import load_or_create_identity
from mfsync.store.index_db import FileRecord, IndexDB, IndexDBError
from mfsync.store.index_records import decode_row
from mfsync.store.known_hosts import KnownHosts
from mfsync.store.trust_file import TrustFileError, read_trust_file

#: ``json`` builds a 56-byte list from ``[]`` and a 64-byte dict from ``{}``.
JSON_EXPANSION = 64
#: Opening and reading a file costs a fixed amount besides what it holds: the 8 KiB buffer of
#: the file object, the path's string forms.
FILE_MARGIN = 16 * 1024


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the files the tests write, rewritten by every example."""
    return tmp_path_factory.mktemp("fuzz")


# -- the config, trust list files, known hosts ----------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(["~", "~nosuchuser-mfsync/x", "/abs/path", "rel/path", "", " ",
                     "239.255.0.1", "10.0.0.1", "[::1]:80", "host:0", "host:65536", "a:b:c",
                     "AB" * 32, "ab" * 32 + " ", "GG" * 32, "A" * 63, "share", "sync"]),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["path", "mode", "host", "port", "x"]) | st.text(max_size=5),
                      children, max_size=4),
    max_leaves=12,
)
_setting_keys = st.sampled_from([s.key for s in SETTINGS] + ["trustedKeys", "keyNames"])
_config_objects = st.dictionaries(_setting_keys | st.text(max_size=8), _json_values, max_size=6)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8")


def _valid_config() -> bytes:
    return _json_bytes({
        "trustedKeys": ["AB" * 32], "keyNames": {"AB" * 32: "anna"}, "peers": ["h:1", "[::1]"],
        "port": 8000, "ttl": 1, "folders": [{"path": "/srv/a", "mode": "sync"}],
        "multicastAddress": "239.255.0.1", "downloadFolder": "/tmp/d", "autostart": True,
    })


#: Inputs that broke the JSON readers: nesting past the recursion limit, a number longer than
#: Python's 4300-digit limit, a folder under the home of a user this system does not have.
_HOSTILE_JSON = [
    b"[" * 100_000,
    b'{"port": ' + b"1" * 5000 + b"}",
    b'{"folders": [{"path": "~nosuchuser-mfsync/x"}]}',
    b'{"downloadFolder": "~nosuchuser-mfsync"}',
]

_file_contents = st.one_of(
    st.binary(max_size=400),
    # nesting up to past the recursion limit; numbers up to past the 4300-digit limit
    st.tuples(st.sampled_from([b"[", b'{"a":', b'{"trustedKeys":[', b"[{}, "]),
              st.integers(1, 3000)).map(lambda t: t[0] * t[1]),
    st.integers(4000, 4400).map(lambda n: b'{"ttl": ' + b"9" * n + b"}"),
    _config_objects.map(_json_bytes),
    _json_values.map(_json_bytes),
    mutated(st.just(_valid_config()), max_ops=4),
)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)  # no warning about the mode in every example
    return path


def _json_budget(data: bytes) -> int:
    return JSON_EXPANSION * len(data) + ALLOC_MARGIN + FILE_MARGIN


@fuzz_settings(600)
@given(_file_contents)
def test_config_file(scratch: Path, data: bytes) -> None:
    """Any config file content: the settings, or ``ConfigError``."""
    path = _write(scratch / "config.json", data)
    config = run_decoder("config", lambda: load_config(path, explicit=True),
                         refusals=(ConfigError,), budget=_json_budget(data))
    assert config is None or isinstance(config, Config)


@pytest.mark.parametrize("data", _HOSTILE_JSON, ids=["deep", "digits", "user", "user2"])
def test_config_regressions(scratch: Path, data: bytes) -> None:
    """Each of these escaped ``load_config`` as RecursionError, ValueError or RuntimeError."""
    path = _write(scratch / "config.json", data)
    assert run_decoder("config", lambda: load_config(path, explicit=True),
                       refusals=(ConfigError,), budget=_json_budget(data)) is None


@fuzz_settings(400)
@given(_file_contents | st.lists(_json_scalars, max_size=5).map(_json_bytes))
def test_trust_file(scratch: Path, data: bytes) -> None:
    """Any file offered to the trust dialog's import: keys and names, or ``TrustFileError``."""
    path = _write(scratch / "trust.json", data)
    result = run_decoder("trust_file", lambda: read_trust_file(path),
                         refusals=(TrustFileError,), budget=_json_budget(data))
    if result is not None:
        keys, names = result
        assert all(len(k) == 32 for k in keys) and all(len(k) == 32 for k in names)
        assert all(isinstance(n, str) for n in names.values())


@pytest.mark.parametrize("data", _HOSTILE_JSON[:2], ids=["deep", "digits"])
def test_trust_file_regressions(scratch: Path, data: bytes) -> None:
    """These escaped ``read_trust_file`` as RecursionError and ValueError."""
    path = _write(scratch / "trust.json", data)
    assert run_decoder("trust_file", lambda: read_trust_file(path),
                       refusals=(TrustFileError,), budget=_json_budget(data)) is None


_known_hosts = st.dictionaries(
    st.sampled_from(["AB" * 32, "cd" * 32, "x"]) | st.text(max_size=4),
    st.fixed_dictionaries({"host": _json_values, "port": _json_values})
    | st.fixed_dictionaries({"host": st.text(max_size=10), "port": st.integers(-1, 70000)})
    | _json_values,
    max_size=4,
).map(_json_bytes)


@fuzz_settings(400)
@given(_file_contents | _known_hosts)
@example(_HOSTILE_JSON[0])
@example(_json_bytes({"AB" * 32: {"host": "h", "port": True}}))
def test_known_hosts_file(scratch: Path, data: bytes) -> None:
    """Any ``known_hosts.json``: ignored with a warning if broken, never an exception; what
    loads is a key and a usable address."""
    path = _write(scratch / "known_hosts.json", data)
    hosts = run_decoder("known_hosts", lambda: KnownHosts(path), refusals=(),
                        budget=_json_budget(data))
    assert hosts is not None
    for host, port in hosts.addresses():
        assert isinstance(host, str)
        assert type(port) is int and 0 < port < 65536


# -- the identity key file --------------------------------------------------------------------

def _other_keys() -> list[bytes]:
    """PKCS#8 DER of keys that are not X25519, clear and encrypted."""
    keys = [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate(),
            ed448.Ed448PrivateKey.generate(), x448.X448PrivateKey.generate()]
    out = []
    for key in keys:
        out.append(key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
        out.append(key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pw")))
    return out


_OUR_KEY = identity_to_der(Identity.generate())
_ders = st.sampled_from([_OUR_KEY, *_other_keys()])
#: The X25519 algorithm identifier (OID 1.3.101.110) changed to other ones: X448 made the
#: library raise InternalError, an unknown OID UnsupportedAlgorithm.
_ODD_OIDS = [_OUR_KEY.replace(b"\x2b\x65\x6e", b"\x2b\x65" + bytes([last]))
             for last in (0x6F, 0x70, 0x71, 0x00)]


@fuzz_settings(800)
@given(mutated(_ders, max_ops=3) | st.binary(max_size=120) | st.sampled_from(_ODD_OIDS))
def test_identity_der(data: bytes) -> None:
    """Any key file content: an X25519 identity or ``IdentityError``."""
    identity = run_decoder("identity_der", lambda: identity_from_der(data, "key.bin"),
                           refusals=(IdentityError,), budget=alloc_budget(len(data), 1 << 16))
    if identity is not None:
        assert len(identity.public_key) == 32


@pytest.mark.parametrize("data", _ODD_OIDS, ids=["x448", "ed25519", "ed448", "unknown"])
def test_identity_der_regressions(data: bytes) -> None:
    """Another algorithm's identifier escaped as InternalError or UnsupportedAlgorithm."""
    assert run_decoder("identity_der", lambda: identity_from_der(data, "key.bin"),
                       refusals=(IdentityError,), budget=alloc_budget(len(data), 1 << 16)) is None


@fuzz_settings(150)
@given(mutated(_ders, max_ops=2) | st.binary(max_size=60))
def test_identity_file_is_never_replaced(scratch: Path, data: bytes) -> None:
    """``key.bin`` with any content: loaded or ``IdentityError``, and never rewritten."""
    path = _write(scratch / "key.bin", data)
    result = run_decoder("identity_file", lambda: load_or_create_identity(path),
                         refusals=(IdentityError,),
                         budget=alloc_budget(len(data), 1 << 16) + FILE_MARGIN)
    assert path.read_bytes() == data
    assert result is None or result[1] is False


# -- the index database ---------------------------------------------------------------------------

_sql_values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(),
                        st.text(max_size=10), st.binary(max_size=90))
_GOOD_ROW: tuple[object, ...] = ("a", "a", 5, 1, 42, 1 << 17, bytes(32), bytes(32),
                                 bytes(32) + (3).to_bytes(8, "big"), 0)


def _rows() -> st.SearchStrategy[tuple[object, ...]]:
    """Rows as SQLite may hand them back: a good row with some columns replaced by any value
    of any SQLite type, or any values at all."""
    replaced = st.lists(st.tuples(st.integers(0, 9), _sql_values), max_size=3).map(
        lambda changes: tuple(
            dict(changes).get(i, value) for i, value in enumerate(_GOOD_ROW)))
    return replaced | st.tuples(*([_sql_values] * 10))


@fuzz_settings(600)
@given(_rows())
def test_index_row_decoder(row: tuple[object, ...]) -> None:
    """Any row: a record with the lengths the rest of the code relies on, or None (skipped)."""
    record = run_decoder("index_db_row", lambda: decode_row(row, {}), refusals=(),
                         budget=EXPANSION * 1024 + ALLOC_MARGIN)
    if record is not None:
        assert isinstance(record, FileRecord)
        assert len(record.content_id) == 32 and all(len(h) == 32 for h in record.block_hashes)
        assert record.size >= 0 and record.block_size >= 0 and record.deleted in (False, True)


def _database_file() -> bytes:
    """A small index database, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.sqlite"
        with IndexDB(path) as db:
            db.put_many([FileRecord(f"f{i}", f"f{i}", i, i, i, 1 << 17, (bytes(32),), bytes(32),
                                    VersionVector.of({bytes(32): i + 1})) for i in range(5)])
            db.set_meta("generation", "3")
        return path.read_bytes()


_DB_FILE = _database_file()


@fuzz_settings(150)
@given(mutations(3), mutations(3), st.lists(st.tuples(*([_sql_values.filter(
    lambda v: v is not None)] * 10)), max_size=3))
# a schema page damaged so that SQLite's error message quotes a byte that is not UTF-8
@example([], [("insert", 3598, b"\x00\x00\x00\x00\x00\x80")], [])
def test_index_database_file(scratch: Path, header_ops: list[Mutation],
                             ops: list[Mutation], rows: list[tuple[object, ...]]) -> None:
    """A damaged database file (its 100-byte header and its pages mutated) and rows of any
    type: opened, moved aside or refused with ``IndexDBError``; loading never raises."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    path = folder / "index.sqlite"
    path.write_bytes(apply_mutations(_DB_FILE[:100], header_ops)
                     + apply_mutations(_DB_FILE[100:], ops))
    if rows:
        conn = sqlite3.connect(path)
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 rows)
        except sqlite3.Error:
            pass  # a file too damaged to write into: the open below must cope anyway
        finally:
            conn.close()

    def load() -> dict[str, FileRecord]:
        with IndexDB(path) as db:
            return db.load_all()

    run_decoder("index_db_file", load, refusals=(IndexDBError,),
                budget=JSON_EXPANSION * len(_DB_FILE) + ALLOC_MARGIN)
    for leftover in folder.iterdir():
        leftover.unlink()
    os.rmdir(folder)


def test_index_row_with_text_that_is_not_utf8_is_skipped(scratch: Path) -> None:
    """Regression: one such row made every load fail with an OperationalError (so the folder's
    index never loaded again); now that row is skipped and the others load."""
    path = Path(tempfile.mkdtemp(dir=scratch)) / "index.sqlite"
    path.write_bytes(_DB_FILE)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO files VALUES (CAST(x'80ff' AS TEXT), 'd', 1, 1, 1, 131072,"
                     " x'', zeroblob(32), x'', 0)")
    conn.close()

    def load() -> dict[str, FileRecord]:
        with IndexDB(path) as db:
            return db.load_all()

    records = run_decoder("index_db_file", load, refusals=(),
                          budget=JSON_EXPANSION * len(_DB_FILE) + ALLOC_MARGIN)
    assert records is not None and sorted(records) == [f"f{i}" for i in range(5)]
