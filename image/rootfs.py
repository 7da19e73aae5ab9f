"""The image's base layer: a minimal Debian root file system made by mmdebstrap.

Only Debian's own packages go in (no base image is pulled from a registry). The variant is
``essential`` (no apt: nothing is installed into a running image) plus the few packages Tether
drives: Python, git, the ssh client for SSH repositories and the CA bundle, and the C++
runtime that wheels may rely on. Documentation, man
pages, info pages and translations are never unpacked; perl's module library (pulled in by git,
used only by git commands Tether never runs: send-email, svn, cvs) is removed after the last
package script ran. The service user is written into ``/etc/passwd`` directly so the files stay
byte-for-byte the same across builds (``useradd`` would stamp today's date into ``/etc/shadow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import ImageBuildError, run

#: what the image runs on; Python's minor version must match the builder's (see build.py)
SUITE = "bookworm"
#: libstdc++6: manylinux wheels may link it without bundling it (gojsonnet does)
PACKAGES = ("python3", "git", "openssh-client", "ca-certificates", "libstdc++6")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

#: the non-root user of deploy/install.yaml (runAsUser: 999) and its home, HOME in the image
USER = "tether"
UID = 999
HOME = "/var/lib/tether"

#: paths dpkg never unpacks (licences under /usr/share/doc/*/copyright stay)
EXCLUDED_PATHS = (
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/doc/*",
)
KEPT_PATHS = ("/usr/share/doc/*/copyright",)

#: removed once every package is configured: perl's full library (usrmerge's script needs it
#: while installing), and files the host copies in (a runtime mounts its own)
REMOVED_AFTER_INSTALL = (
    "/usr/share/perl/5.*",
    "/usr/lib/x86_64-linux-gnu/perl/5.*",
    "/etc/resolv.conf",
    "/etc/hostname",
)


@dataclass(frozen=True)
class Mirrors:
    """Where Debian's packages come from (the security suite has its own archive)."""

    debian: str = DEFAULT_MIRROR
    security: str = DEFAULT_SECURITY_MIRROR

    def sources(self) -> list[str]:
        """One-line apt sources for the suite, its updates and its security updates."""
        return [
            f"deb {self.debian} {SUITE} main",
            f"deb {self.debian} {SUITE}-updates main",
            f"deb {self.security} {SUITE}-security main",
        ]


def _user_hook() -> str:
    """Shell that adds the service user and group with fixed fields (no dates)."""
    passwd = f"{USER}:x:{UID}:{UID}:Tether:{HOME}:/usr/sbin/nologin"
    group = f"{USER}:x:{UID}:"
    shadow = f"{USER}:!::0:99999:7:::"
    return (
        f'echo "{passwd}" >> "$1/etc/passwd" && '
        f'echo "{group}" >> "$1/etc/group" && '
        f'echo "{shadow}" >> "$1/etc/shadow" && '
        f'echo "{USER}:!::" >> "$1/etc/gshadow"'
    )


def mmdebstrap_command(output: Path, packages_list: Path, mirrors: Mirrors) -> list[str]:
    """The mmdebstrap call writing the base layer to ``output`` (an uncompressed tar).

    ``packages_list`` receives ``name=version`` of every installed package: the record of what
    the mirror served, which is what a second build must match to give the same digest.
    """
    command = [
        "mmdebstrap",
        "--variant=essential",
        "--include=" + ",".join(PACKAGES),
        "--skip=output/dev",
    ]
    command += [f"--dpkgopt=path-exclude={path}" for path in EXCLUDED_PATHS]
    command += [f"--dpkgopt=path-include={path}" for path in KEPT_PATHS]
    removed = " ".join(f'"$1"{path}' for path in REMOVED_AFTER_INSTALL)
    command += [
        f"--customize-hook=rm -rf {removed}",
        f"--customize-hook={_user_hook()}",
        "--customize-hook=chroot \"$1\" dpkg-query -W -f='${Package}=${Version}\\n' > "
        + _quote(packages_list),
    ]
    return [*command, SUITE, str(output), *mirrors.sources()]


def _quote(path: Path) -> str:
    """``path`` single-quoted for the hook's shell."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def build_base(
    output: Path, packages_list: Path, mirrors: Mirrors, env: dict[str, str], log: Path
) -> None:
    """Run mmdebstrap, its output going to ``log``."""
    run(mmdebstrap_command(output, packages_list, mirrors), log, env=env, what="mmdebstrap")


def python_minor(packages_list: Path) -> str:
    """The Python version (``3.11``) of the base, read from its ``python3.X-minimal`` package."""
    for line in packages_list.read_text().splitlines():
        name = line.partition("=")[0]
        if name.startswith("python3.") and name.endswith("-minimal"):
            return name.removeprefix("python").removesuffix("-minimal")
    raise ImageBuildError(f"no python3.X-minimal package in {packages_list}")
