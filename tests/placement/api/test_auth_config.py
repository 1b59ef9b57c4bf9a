"""Choosing the auth strategy: the config keys, and keystonemiddleware only when it is Keystone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from allotment.infra.keystone import keystone_auth
from allotment.placement.config import Config, load_config
from allotment.scheduler.config import load_scheduler_config

AUTHTOKEN = '[keystone_authtoken]\nwww_authenticate_uri = "http://ks/v3"\nauth_url = "http://ks/v3"\n'


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "allotment.toml"
    path.write_text(text)
    return load_config(path)


def test_noauth2_stays_the_default(tmp_path: Path) -> None:
    assert load_config().auth_strategy == "noauth2"
    assert _load(tmp_path, "[api]\nauth_strategy = \"noauth2\"\n").auth_strategy == "noauth2"


@pytest.mark.parametrize("table", ['[auth]\nstrategy = "keystone"\n', '[api]\nauth_strategy = "keystone"\n',
                                   '[auth]\nstrategy = "keystone"\n[api]\nauth_strategy = "keystone"\n'])
def test_keystone_by_either_key_with_its_options(tmp_path: Path, table: str) -> None:
    conf = _load(tmp_path, table + AUTHTOKEN)
    assert conf.auth_strategy == "keystone"
    assert conf.keystone_authtoken == {"www_authenticate_uri": "http://ks/v3", "auth_url": "http://ks/v3"}


@pytest.mark.parametrize(("text", "message"), [
    ('[auth]\nstrategy = "keystone"\n', r"needs a \[keystone_authtoken\] table"),
    ('[auth]\nstrategy = "keystone"\n[api]\nauth_strategy = "noauth2"\n' + AUTHTOKEN, "disagree"),
    ('[auth]\nstrategy = "ldap"\n', "unsupported auth strategy 'ldap'"),
])
def test_bad_auth_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(tmp_path, text)


def test_the_scheduler_reads_the_same_keystone_table(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.toml"
    path.write_text('[scheduler]\nauth_strategy = "keystone"\n' + AUTHTOKEN)
    conf = load_scheduler_config(path)
    assert (conf.auth_strategy, conf.keystone_authtoken["auth_url"]) == ("keystone", "http://ks/v3")
    assert load_scheduler_config(None).auth_strategy == "none"
    path.write_text('[scheduler]\nauth_strategy = "keystone"\n')
    with pytest.raises(ValueError, match=r"needs a \[keystone_authtoken\] table"):
        load_scheduler_config(path)
    path.write_text('[scheduler]\nauth_strategy = "noauth2"\n')
    with pytest.raises(ValueError, match="unsupported"):
        load_scheduler_config(path)


def test_keystonemiddleware_is_imported_only_for_keystone(tmp_path: Path) -> None:
    keystone = tmp_path / "keystone.toml"
    keystone.write_text('[auth]\nstrategy = "keystone"\n' + AUTHTOKEN + 'auth_type = "password"\n')
    probe = (
        "import sys\n"
        "from allotment.placement.config import load_config\n"
        "from allotment.placement.api.app import make_app\n"
        f"make_app(load_config(db_url='sqlite:///{tmp_path}/a.sqlite'))\n"
        "print('keystonemiddleware' in sys.modules)\n"
        f"make_app(load_config({str(keystone)!r}, db_url='sqlite:///{tmp_path}/a.sqlite'))\n"
        "print('keystonemiddleware' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


# webob, under keystonemiddleware, still imports cgi.
@pytest.mark.filterwarnings("ignore:'cgi' is deprecated:DeprecationWarning")
@pytest.mark.parametrize(("options", "message"), [
    ({"auth_url": "http://ks/v3", "username": "placement"}, "unknown without an auth_type"),
    ({"auth_type": "password", "auth_url": "http://ks/v3", "usernme": "placement"},
     "usernme: not an option of keystonemiddleware or of the 'password' auth plugin"),
])
def test_keystone_options_that_mean_nothing_are_refused(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        keystone_auth(lambda environ, start_response: [b""], options)
