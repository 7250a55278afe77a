"""The two sides of an A/B gate run: the base commit checked out in a temporary git worktree, and the change.

Contract
    :func:`find_sides` checks ``--repo`` and ``--against`` before anything is measured and
    raises a one-line :class:`~bench.errors.UsageError` (exit 2) for a path that is not a git
    repository, a REF that names no commit (saying so when the clone is shallow), and a
    working tree with unmerged paths (a conflict in progress is no version of the code).
    The change side is the working tree as it is, uncommitted edits included -- what a
    developer wants to compare before committing; :class:`Sides` lists those edits so the
    output can say the change is more than its commit.

    :func:`base_tree` checks the base commit out with ``git worktree add --detach`` into a new
    directory of the temporary area and removes it (``git worktree remove --force``, the
    directory, ``git worktree prune``) when the block ends, however it ends: normally, on an
    error, or on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UsageError

log = logging.getLogger(__name__)

#: Prefix of the temporary directory holding the base commit's worktree.
TREE_PREFIX = "ctxbench-ab-"
#: Seconds any one git command may take.
GIT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Commit:
    """One commit: its full sha and subject line."""

    sha: str
    subject: str

    def label(self) -> str:
        """``abc1234 subject line``."""
        return f"{self.sha[:7]} {self.subject}"


@dataclass(frozen=True)
class Sides:
    """What an A/B run compares: the repository, the base commit, and the change (HEAD plus uncommitted edits)."""

    repo: Path
    ref: str
    base: Commit
    change: Commit
    #: Paths with uncommitted changes (``git status --porcelain``): part of the change side.
    dirty: list[str] = field(default_factory=list)

    def change_label(self) -> str:
        """The change side as the output names it."""
        extra = f" + {len(self.dirty)} uncommitted path(s)" if self.dirty else ""
        return f"{self.change.label()}{extra}"


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo ARGS``; with ``check``, a failure is a UsageError naming git's first line."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UsageError("--against needs git, and no git program was found") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {' '.join(args[:2])} took more than {GIT_TIMEOUT:.0f} s in {repo}") from None
    if check and done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[0]
        command = next((a for a in args if not a.startswith("-") and "=" not in a), "")
        raise UsageError(f"git {command} in {repo}: {first}")
    return done


def repo_root(path: Path) -> Path:
    """The top of the git working tree holding ``path``; UsageError if there is none."""
    if not path.is_dir():
        raise UsageError(f"--repo {path}: not a directory")
    done = git(path, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise UsageError(f"--repo {path}: not a git repository (or a bare one, without a working tree)")
    return Path(done.stdout.strip())


def commit_of(repo: Path, ref: str) -> Commit:
    """The commit ``ref`` names; UsageError if none (a shallow clone is said to be one)."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--against {ref!r}: not a commit, branch or tag name")
    done = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0:
        shallow = git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"
        hint = (" (this is a shallow clone: fetch the base, e.g. git fetch --unshallow, or fetch-depth: 0 in CI)"
                if shallow else "")
        raise UsageError(f"--against {ref}: no such commit, branch or tag in {repo}{hint}")
    sha = done.stdout.strip()
    subject = git(repo, "log", "-1", "--format=%s", sha).stdout.strip()
    return Commit(sha, subject)


def find_sides(repo: Path, ref: str) -> Sides:
    """Check ``repo`` and ``ref`` and describe both sides; UsageError (one line) for anything wrong."""
    root = repo_root(repo)
    base = commit_of(root, ref)
    head = commit_of(root, "HEAD")
    status = git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    unmerged = [line[3:] for line in status if line[:2] in ("DD", "AU", "UD", "UA", "DU", "AA", "UU")]
    if unmerged:
        raise UsageError(f"--repo {root}: {len(unmerged)} unmerged path(s) (e.g. {unmerged[0]}): finish or abort the "
                         "merge first; the change side must be one version of the code")
    return Sides(root, ref, base, head, [line[3:] for line in status])


@contextlib.contextmanager
def base_tree(sides: Sides) -> Iterator[Path]:
    """The base commit checked out in a temporary worktree, removed when the block ends, however it ends."""
    parent = Path(tempfile.mkdtemp(prefix=TREE_PREFIX))
    tree = parent / "base"
    try:
        # No hooks: a post-checkout hook of the user's repository has no business in a measurement.
        git(sides.repo, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet", str(tree),
            sides.base.sha)
        log.debug("base %s checked out in %s", sides.base.label(), tree)
        yield tree
    finally:
        git(sides.repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(parent, ignore_errors=True)
        git(sides.repo, "worktree", "prune", check=False)
