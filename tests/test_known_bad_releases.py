"""No release listed in known_bad_releases.toml (compromised, or with a published advisory) is admitted by
pyproject.toml's dependency specifiers, every extra included, nor held by the lock CI installs from."""

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from conftest import REPO

BAD = tomllib.loads((REPO / "known_bad_releases.toml").read_text())["release"]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCK = REPO / "requirements" / "dev.lock"


def requirements() -> list[Requirement]:
    """Every dependency specifier of pyproject.toml: the dependencies and each extra's (zoo's own extras excepted)."""
    listed = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values() for r in extra]
    return [Requirement(text) for text in listed if Requirement(text).name != PROJECT["name"]]


def locked() -> dict[str, str]:
    """The lock's exact versions: {package: version}."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LOCK.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def admits_some(allowed: SpecifierSet, affected: SpecifierSet) -> str | None:
    """A version that both sets admit, if any. Two ranges overlap where one of their bounds lies in both (or,
    without a lower bound, at 0), so their own versions and 0 are the versions to try. (Not tried: a gap between two
    exclusive bounds, >2.6.5 against <2.6.6; write a floor as >= the first good release.)"""
    for candidate in {"0", *(spec.version for spec in allowed), *(spec.version for spec in affected)}:
        if allowed.contains(candidate, prereleases=True) and affected.contains(candidate, prereleases=True):
            return candidate
    return None


@pytest.mark.parametrize("entry", BAD, ids=lambda entry: f"{entry['package']}:{entry['advisory']}")
def test_no_dependency_specifier_admits_a_known_bad_release(entry):
    assert entry["advisory"] and entry["published"] and entry["what"]  # documented, as the file's header asks
    for requirement in requirements():
        if canonicalize_name(requirement.name) != canonicalize_name(entry["package"]):
            continue
        for affected in entry["affected"]:
            admitted = admits_some(requirement.specifier, SpecifierSet(affected))
            assert admitted is None, (
                f'pyproject.toml\'s "{requirement}" admits {entry["package"]} {admitted} ({affected}: '
                f"{entry['advisory']}, {entry['what']})"
            )


@pytest.mark.parametrize("entry", BAD, ids=lambda entry: f"{entry['package']}:{entry['advisory']}")
def test_the_lock_holds_no_known_bad_release_and_each_is_kept_out_by_pyproject(entry):
    version = locked().get(canonicalize_name(entry["package"]))
    if version is None:
        return  # not in zoo's environment at all
    assert not any(SpecifierSet(affected).contains(version, prereleases=True) for affected in entry["affected"]), (
        f"{LOCK.name} holds {entry['package']}=={version}: {entry['advisory']}"
    )
    # Installed without the lock, only zoo's own specifiers keep it out: a dependency of a dependency needs one too.
    named = {canonicalize_name(requirement.name) for requirement in requirements()}
    assert canonicalize_name(entry["package"]) in named, (
        f"{entry['package']} is in zoo's environment but pyproject.toml has no specifier to exclude {entry['affected']}"
    )


@pytest.mark.parametrize(
    "allowed, affected, admitted",
    [
        (">=2.6,<3", "==2.6.2", True),
        (">=2.6,<3,!=2.6.2,!=2.6.3", "==2.6.2", False),
        (">=2.6,<3", "<2.6.6", True),
        (">=2.6.6,<3", "<2.6.6", False),
        ("<3", "<2.6.6", True),  # no floor at all
        ("~=2.6.1", "==2.6.3", True),  # ~=2.6.1 is >=2.6.1,==2.6.*
        ("==2.6.3", "==2.6.3", True),
        ("", "==2.6.2", True),
    ],
)
def test_the_overlap_check_finds_what_a_specifier_admits(allowed, affected, admitted):
    assert (admits_some(SpecifierSet(allowed), SpecifierSet(affected)) is not None) == admitted
