"""A stand-in for the Hugging Face Hub: a small local HTTP server, NOT the Hub.

It speaks the part of the Hub's HTTP API that ``huggingface_hub``'s own client uses for
``create_repo``, ``create_branch``, ``model_info``, ``upload_folder`` (preupload, commit,
README validation, pull requests) and ``snapshot_download`` (revision info, tree listing,
``resolve`` with ETag / X-Repo-Commit / Content-Length), as read from huggingface_hub's
source. Repos live in memory; the preupload answer makes every file a regular (base64, not
LFS or Xet) upload, so no storage backend is involved. Errors carry the Hub's
``X-Error-Code`` headers (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
the client turns into its typed exceptions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

EMPTY_COMMIT = "0" * 40


@dataclass
class Repo:
    private: bool = False
    gated: bool = False
    refs: dict[str, str] = field(default_factory=dict)
    """branch, tag or refs/pr/N -> commit"""
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """commit -> {path: content} (the whole tree at that commit)"""
    prs: int = 0


def blob_id(content: bytes) -> str:
    """git's object id of a file, as the Hub gives it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class StandInHub:
    """``with StandInHub(token="hf_w") as hub:`` serves at ``hub.endpoint``.

    ``token``: when set, writes need ``Authorization: Bearer <token>`` (else 401) and so
    do reads of private or gated repos. ``requests`` records (method, path) of each call.
    """

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.refs.get(revision, revision)]

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Put ``files`` on ``branch`` as a new commit (a repo made up by the test)."""
        repo = self.repos.setdefault(repo_id, Repo())
        tree = dict(repo.commits.get(repo.refs.get(branch, ""), {}))
        tree.update(files)
        return self._store(repo, branch, tree)

    def _store(self, repo: Repo, ref: str, tree: dict[str, bytes]) -> str:
        seed = json.dumps([ref, len(repo.commits), sorted(tree)]).encode()
        sha = hashlib.sha1(seed + b"".join(tree[p] for p in sorted(tree))).hexdigest()
        repo.commits[sha] = tree
        repo.refs[ref] = sha
        return sha


class _Failure(Exception):
    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None,
                 **extra):  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit
        self.extra = extra


def _handler(hub: StandInHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_POST(self) -> None:
            self._serve("POST")

        # -- plumbing ------------------------------------------------------------------
        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            hub.requests.append((method, url.path))
            self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            try:
                with hub.lock:
                    self._route(method, parts)
            except _Failure as err:
                headers = {"X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                if err.commit:
                    headers["X-Repo-Commit"] = err.commit
                self._send(err.status, {"error": err.message, **err.extra}, headers)

        def _send(self, status: int, payload, headers: dict | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            if not isinstance(payload, bytes):
                self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            return hub.token is None or given == f"Bearer {hub.token}"

        def _repo(self, repo_id: str, write: bool = False) -> Repo:
            repo = hub.repos.get(repo_id)
            if write and not self._authorized():
                raise _Failure(401, None, "Invalid username or password.")
            if repo is None or (repo.private and not self._authorized()):
                raise _Failure(404 if self._authorized() else 401, "RepoNotFound", "Repo not found")
            if repo.gated and not self._authorized():
                raise _Failure(401, "GatedRepo", "Access to this repo is restricted")
            return repo

        def _commit_of(self, repo: Repo, revision: str) -> str:
            if revision in repo.commits:
                return revision
            if revision not in repo.refs:
                raise _Failure(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return repo.refs[revision]

        # -- routes --------------------------------------------------------------------
        def _route(self, method: str, parts: list[str]) -> None:
            if method == "POST" and parts == ["api", "repos", "create"]:
                return self._create_repo()
            if method == "POST" and parts == ["api", "validate-yaml"]:
                return self._send(200, {"errors": [], "warnings": []})
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo_id, rest = "/".join(parts[2:4]), parts[4:]
                return self._api(method, repo_id, rest)
            if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            raise _Failure(404, None, f"the stand-in has no route {method} /{'/'.join(parts)}")

        def _create_repo(self) -> None:
            if not self._authorized():
                raise _Failure(401, None, "Invalid username or password.")
            payload = json.loads(self.body)
            repo_id = f"{payload['organization']}/{payload['name']}"
            if repo_id in hub.repos:
                url = f"{hub.endpoint}/{repo_id}"  # the Hub's 409 names the repo too
                raise _Failure(409, None, "You already created this model repo", url=url)
            repo = hub.repos[repo_id] = Repo(private=payload.get("visibility") == "private")
            hub._store(repo, "main", {".gitattributes": b"*.safetensors filter=lfs\n"})
            self._send(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id})

        def _api(self, method: str, repo_id: str, rest: list[str]) -> None:
            if method == "GET" and (not rest or rest[0] == "revision"):
                repo = self._repo(repo_id)
                sha = self._commit_of(repo, rest[1] if rest else "main")
                siblings = [{"rfilename": p} for p in sorted(repo.commits[sha])]
                info = {"id": repo_id, "sha": sha, "private": repo.private, "siblings": siblings}
                return self._send(200, {**info, "gated": repo.gated, "disabled": False})
            if method == "GET" and rest and rest[0] == "tree":
                repo = self._repo(repo_id)
                tree = repo.commits[self._commit_of(repo, rest[1])]
                prefix = "/".join(rest[2:])
                entries = [
                    {"type": "file", "path": p, "size": len(c), "oid": blob_id(c)}
                    for p, c in sorted(tree.items())
                    if not prefix or p.startswith(prefix + "/")
                ]
                return self._send(200, entries)
            if method == "POST" and rest and rest[0] == "preupload":
                repo = self._repo(repo_id, write=True)
                tree = repo.commits.get(repo.refs.get(rest[1], rest[1]), {})
                files = [
                    {
                        "path": f["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": blob_id(tree[f["path"]]) if f["path"] in tree else None,
                    }
                    for f in json.loads(self.body)["files"]
                ]
                return self._send(200, {"files": files, "commitOid": repo.refs.get("main")})
            if method == "POST" and rest and rest[0] == "commit":
                return self._commit(repo_id, rest[1])
            if method == "POST" and rest and rest[0] == "branch":
                repo = self._repo(repo_id, write=True)
                if rest[1] in repo.refs:
                    raise _Failure(409, None, f"Reference already exists: {rest[1]}")
                start = json.loads(self.body or b"{}").get("startingPoint") or "main"
                repo.refs[rest[1]] = self._commit_of(repo, start)
                return self._send(200, {})
            if rest and rest[0] == "discussions":
                return self._discussion(method, repo_id, rest[1:])
            raise _Failure(404, None, f"the stand-in has no route {method} {repo_id}/{rest}")

        def _commit(self, repo_id: str, revision: str) -> None:
            repo = self._repo(repo_id, write=True)
            ref = revision
            if self.query.get("create_pr") == "1":
                repo.prs += 1
                ref = f"refs/pr/{repo.prs}"
                repo.refs[ref] = self._commit_of(repo, revision)
            tree = dict(repo.commits[self._commit_of(repo, ref)])
            for line in self.body.splitlines():
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "file":
                    tree[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    tree.pop(value["path"], None)
                elif key == "deletedFolder":
                    tree = {p: c for p, c in tree.items() if not p.startswith(value["path"])}
                elif key != "header":
                    raise _Failure(400, None, f"the stand-in takes regular files only, not {key}")
            sha = hub._store(repo, ref, tree)
            url = f"{hub.endpoint}/{repo_id}"
            pr = f"{url}/discussions/{repo.prs}" if ref.startswith("refs/pr/") else None
            self._send(200, {"commitUrl": f"{url}/commit/{sha}", "commitOid": sha,
                             "pullRequestUrl": pr, "success": True})  # fmt: skip

        def _discussion(self, method: str, repo_id: str, rest: list[str]) -> None:
            repo = self._repo(repo_id, write=method == "POST")
            if method == "POST" and not rest:
                repo.prs += 1
                repo.refs[f"refs/pr/{repo.prs}"] = repo.refs["main"]
                title = json.loads(self.body)["title"]
                return self._send(200, {"num": repo.prs, "title": title})
            num = int(rest[0])
            self._send(200, {
                "title": "pushed with phalanx", "num": num, "author": {"name": "stand-in"},
                "createdAt": "2026-01-01T00:00:00.000Z", "status": "open",
                "repo": {"name": repo_id, "type": "model"}, "isPullRequest": True,
                "events": [], "changes": {"base": "refs/heads/main"}, "filesWithConflicts": [],
            })  # fmt: skip

        def _resolve(self, repo_id: str, revision: str, path: str) -> None:
            repo = self._repo(repo_id)
            sha = self._commit_of(repo, revision)
            tree = repo.commits[sha]
            if path not in tree:
                raise _Failure(404, "EntryNotFound", f"{path} does not exist", commit=sha)
            content = tree[path]
            headers = {"X-Repo-Commit": sha, "ETag": f'"{blob_id(content)}"'}
            self._send(200, content, headers)

    return Handler
