"""Reading and creating ``key.bin``, the host's identity on disk.

A missing file is created with mode 0600 (directory 0700); an unreadable or invalid one is an
error and is never replaced, because a silently new identity would break every trust list that
names the old one.
"""

import logging
import stat
from pathlib import Path

from mfsync.crypto.keys import Identity, IdentityError, identity_from_der, identity_to_der
from mfsync.store.files import publish_new, warn_if_exposed

__all__ = ["load_or_create_identity"]

log = logging.getLogger("mfsync.store")


def load_or_create_identity(path: Path) -> tuple[Identity, bool]:
    """Load the key at ``path``, creating it when the file does not exist.

    Returns the identity and whether it was created by this call.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    except IsADirectoryError:
        raise IdentityError(f"key file {path} is a directory") from None
    except OSError as exc:
        raise IdentityError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    identity = identity_from_der(data, str(path))
    warn_if_exposed(path, "key file", stat.S_IRWXG | stat.S_IRWXO)
    return identity, False


def _create(path: Path) -> tuple[Identity, bool]:
    identity = Identity.generate()
    data = identity_to_der(identity)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        publish_new(path, data)
    except FileExistsError:
        return load_or_create_identity(path)
    except OSError as exc:
        raise IdentityError(f"cannot create key file {path}: {exc.strerror or exc}") from None
    log.info("created a new identity in %s", path)
    return identity, True
