"""Keystone token validation for either service: keystonemiddleware's auth_token, and who it says is asking.

keystonemiddleware is an optional dependency (the ``keystone`` extra): it is imported only
when a service is configured for Keystone, by :func:`keystone_auth`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Identity", "WSGIApp", "keystone_auth", "keystone_identity"]

_GROUP = "keystone_authtoken"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Identity:
    """The caller as the auth_token middleware describes it in the request headers."""

    user_id: str
    project_id: str | None
    roles: list[str] = field(default_factory=list)
    system_scope: str | None = None
    domain_id: str | None = None  # set for a domain-scoped token


def keystone_auth(app: WSGIApp, options: Mapping[str, Any], *, public_paths: Iterable[str] = ("/", "")) -> WSGIApp:
    """``app`` behind keystonemiddleware's auth_token, configured by ``options``.

    ``options`` are the keys of upstream's ``[keystone_authtoken]`` section (``www_authenticate_uri``,
    ``auth_url``, ``auth_type``, ``username``, ...), given to the middleware unchanged. The paths
    in ``public_paths`` (the version document) are served without a token, as upstream does.
    """
    try:
        from keystonemiddleware import auth_token
        from oslo_config import cfg
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "the keystone auth strategy needs keystonemiddleware: pip install 'allotment[keystone]'"
        ) from exc
    conf, plugin_options = _split_options(auth_token, options)
    # A private oslo.config object, so the middleware never reads or registers options on the
    # process-global one (nor looks for a config file of its own). The middleware's own options
    # go to it as paste options; the auth plugin's (username, password, ...) are set on the object,
    # where the middleware looks for them once it has loaded the plugin named by ``auth_type``.
    private = cfg.ConfigOpts()
    private([], project="allotment", default_config_files=[])
    if plugin_options:
        if not options.get("auth_type"):
            raise ValueError(f"[{_GROUP}] {', '.join(sorted(plugin_options))}: unknown without an auth_type")
        from keystoneauth1 import loading

        loader: Any = loading.get_plugin_loader(str(options["auth_type"]))
        private.register_opts(loading.get_auth_plugin_conf_options(loader), group=_GROUP)
        for name, value in plugin_options.items():
            try:
                private.set_override(name, value, group=_GROUP)
            except cfg.NoSuchOptError:
                raise ValueError(f"[{_GROUP}] {name}: not an option of keystonemiddleware or of the "
                                 f"{options['auth_type']!r} auth plugin") from None
    conf["oslo_config_config"] = private
    protocol = auth_token.AuthProtocol(app, conf)
    public = frozenset(public_paths)

    def authenticated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in public:
            return app(environ, start_response)
        result: Iterable[bytes] = protocol(environ, start_response)
        return result

    return authenticated


def _split_options(auth_token: Any, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the middleware's own options, the auth plugin's): the middleware warns about any it does not know."""
    known = {opt.dest for group, opts in auth_token.list_opts() if group == _GROUP for opt in opts}
    own = {k: v for k, v in options.items() if k in known}
    return own, {k: v for k, v in options.items() if k not in known}


def keystone_identity(environ: Mapping[str, Any]) -> Identity | None:
    """The caller the auth_token middleware confirmed; None for an invalid or missing token.

    The middleware removes these headers from what the client sent before it sets them, so
    they cannot be forged. ``OpenStack-System-Scope`` is ``all`` for a system-scoped token,
    ``X-Domain-Id`` is set for a domain-scoped one.
    """
    if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
        return None
    user_id = environ.get("HTTP_X_USER_ID")
    if not user_id:
        return None
    roles = [r.strip() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip()]
    return Identity(
        user_id=user_id,
        project_id=environ.get("HTTP_X_PROJECT_ID") or None,
        roles=roles,
        system_scope=environ.get("HTTP_OPENSTACK_SYSTEM_SCOPE") or None,
        domain_id=environ.get("HTTP_X_DOMAIN_ID") or None,
    )
