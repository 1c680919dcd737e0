"""``phalanx push``: upload an adapter, run or export folder to the Hugging Face Hub, as is.

The folder goes up as it is on disk (its model card ``README.md`` included); a run folder's
``checkpoints/`` (optimizer states, pickles) stays home. Anyone can then load it by repo id:
``phalanx classify user/repo ...``, ``load_classifier("user/repo")``, ``phalanx serve``.
"""

from __future__ import annotations

import argparse

from .args import CliError
from .common import AddParser

__all__ = ["RUN_FOLDER_SKIPS", "add"]

#: what a run folder keeps home: resumable training state, not a model
RUN_FOLDER_SKIPS = ["checkpoints/*"]

_HELP = "upload an adapter, run or export folder to the Hugging Face Hub"
_DESCRIPTION = (
    "Upload FOLDER (an adapter, run or export folder) as is to the Hub model repo REPO_ID, "
    "creating the repo if needed; a run folder's checkpoints/ is left out. Log in first "
    "(hf auth login or HF_TOKEN) or pass --token. Prints the commit (or pull request) URL."
)
_EXAMPLES = """\
examples:
  phalanx push runs/demo me/sentiment-sparta --private      # the run: adapter/, metrics, ...
  phalanx push runs/demo/onnx-int8 me/sentiment-onnx        # an export folder
  phalanx push runs/demo/adapter me/sentiment-sparta --revision v2
  phalanx push runs/demo/adapter someorg/sentiment --create-pr
  phalanx classify me/sentiment-sparta "a charming journey"  # load it back by repo id
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx push``."""
    add_parser(sub, "push", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_push, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="FOLDER", nargs="?", help="adapter, run or export folder")
    p.add_argument("repo_id", metavar="REPO_ID", nargs="?", help="user/name or org/name")
    p.add_argument(
        "--private", action="store_true", help="create the repo private (a new repo only)"
    )
    p.add_argument("--revision", metavar="BRANCH", help="push to this branch (created if missing)")
    p.add_argument(
        "--create-pr", action="store_true", help="open a pull request against main instead"
    )
    p.add_argument("--token", metavar="TOKEN", help="a write token (default: the login's)")
    p.add_argument("--message", metavar="TEXT", help="the commit message")


def _cmd_push(args: argparse.Namespace) -> int:
    folder, repo_id = getattr(args, "folder", None), getattr(args, "repo_id", None)
    if not folder or not repo_id:
        raise CliError("give the folder and the repo: phalanx push FOLDER USER/NAME")
    from pathlib import Path

    from ..folder import resolve_folder
    from ..hub import is_hub_id, push_folder

    if not Path(folder).expanduser().is_dir():
        raise FileNotFoundError(f"folder {folder!r} does not exist")
    if not is_hub_id(repo_id):
        raise CliError(f"{repo_id!r} is not a Hub repo id: give it as user/name or org/name")
    found = resolve_folder(folder)  # refuses a folder that is no adapter, run or export
    url = push_folder(
        folder,
        repo_id,
        private=True if getattr(args, "private", False) else None,
        revision=getattr(args, "revision", None),
        create_pr=bool(getattr(args, "create_pr", False)),
        token=getattr(args, "token", None),
        commit_message=getattr(args, "message", None),
        ignore_patterns=list(RUN_FOLDER_SKIPS) if found.run is not None else None,
    )
    print(url)
    return 0
