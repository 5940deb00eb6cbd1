"""``mfsync folders``: the folders the network offers us, and whether we have each.

One line per folder, by id: ``ID  LABEL  HOSTS  FILES  SIZE  sync|share  here|not here``
(``sync``: a host that lists it takes changes into it; ``here``: a folder of ours has that id,
as ``config.json`` says; a folder another ``mfsync share``/``sync`` serves from its own index
database is not known here). ``--json``: one object per line for programs. The labels come from
other hosts, so they are escaped for the terminal (``mfsync.display``).
"""

import asyncio
import json

from mfsync.cli.formatting import format_size
from mfsync.cli.modes import SETTLE_GRACE, no_hosts_hint, running_service
from mfsync.cli.setup import Settings
from mfsync.crypto.keys import format_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderId
from mfsync.engine.service import RunPlan
from mfsync.engine.status import RemoteFolder

__all__ = ["folder_json", "folder_line", "run_folders"]

def folder_line(folder: RemoteFolder, have: bool) -> str:
    """``ID  LABEL  N host(s)  N file(s)  SIZE  sync|share  here|not here``."""
    hosts = len(folder.hosts)
    return (f"{folder.id}  {shown(folder.label)}  {hosts} host{'s' * (hosts != 1)}  "
            f"{folder.files} file{'s' * (folder.files != 1)}  {format_size(folder.size)}  "
            f"{'sync' if folder.sync else 'share'}  {'here' if have else 'not here'}")


def folder_json(folder: RemoteFolder, have: bool) -> str:
    """One JSON object: id, label, hosts (their public keys), files, size, sync, have."""
    return json.dumps({
        "id": str(folder.id), "label": folder.label,
        "hosts": sorted({format_key(h.key) for h in folder.hosts}),
        "files": folder.files, "size": folder.size, "sync": folder.sync, "have": have,
    }, ensure_ascii=False)


async def run_folders(settings: Settings, *, as_json: bool) -> int:
    """Print the folders the hosts seen within the window offer us."""
    ours: set[FolderId] = {folder.id for folder in settings.config.folders}
    async with running_service(settings, RunPlan(), wants=True) as service:
        await asyncio.sleep(settings.window)
        await service.settle(SETTLE_GRACE)
        status = service.status.node
    render = folder_json if as_json else folder_line
    for folder in status.remote_folders:
        print(render(folder, folder.id in ours), flush=True)
    no_hosts_hint(settings, status)
    return 0
