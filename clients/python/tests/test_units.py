"""The pure parts, without a server: error classification, TTLs, header parsing, helpers."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

import tessera_auth_client as tc
from tessera_auth_client import Introspection, RetryPolicy, _wire, format_ttl
from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb
from tessera_auth_client.middleware import bearer_token


class FakeRpcError(grpc.RpcError):
    """Shaped like the errors grpc raises for a failed call."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, bytes], ...]
    ) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:  # runtime shape: (key, value) pairs
        return self._trailers


def failure(
    code: grpc.StatusCode, reason: str, domain: str = "tessera", **metadata: str
) -> FakeRpcError:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    status = status_pb2.Status(code=code.value[0], message="msg", details=[detail])
    return FakeRpcError(code, "msg", (("grpc-status-details-bin", status.SerializeToString()),))


@pytest.mark.parametrize(
    ("reason", "code", "cls"),
    [
        ("AUTH_REQUIRED", grpc.StatusCode.UNAUTHENTICATED, tc.AuthRequired),
        ("AUTH_FAILED", grpc.StatusCode.UNAUTHENTICATED, tc.AuthFailed),
        ("AUTH_DENIED", grpc.StatusCode.PERMISSION_DENIED, tc.AuthDenied),
        ("INVALID_CREDENTIALS", grpc.StatusCode.UNAUTHENTICATED, tc.InvalidCredentials),
        ("MFA_REQUIRED", grpc.StatusCode.FAILED_PRECONDITION, tc.MfaRequired),
        ("ACCOUNT_LOCKED", grpc.StatusCode.RESOURCE_EXHAUSTED, tc.AccountLocked),
        ("PRIVILEGE_EXCEEDED", grpc.StatusCode.PERMISSION_DENIED, tc.PrivilegeExceeded),
        ("ELEVATION_REQUIRED", grpc.StatusCode.PERMISSION_DENIED, tc.ElevationRequired),
        ("OVER_PRIVILEGED", grpc.StatusCode.PERMISSION_DENIED, tc.OverPrivileged),
        ("INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT, tc.InvalidArgument),
        ("RESOURCE_EXHAUSTED", grpc.StatusCode.RESOURCE_EXHAUSTED, tc.ResourceExhausted),
        ("UNAVAILABLE", grpc.StatusCode.UNAVAILABLE, tc.Unavailable),
        ("INTERNAL", grpc.StatusCode.INTERNAL, tc.Internal),
    ],
)
def test_each_reason_has_its_exception(
    reason: str, code: grpc.StatusCode, cls: type[tc.TesseraError]
) -> None:
    error = tc.from_rpc_error(failure(code, reason))
    assert type(error) is cls
    assert (error.code, error.reason, error.message) == (code, reason, "msg")


def test_field_and_metadata_are_carried() -> None:
    error = tc.from_rpc_error(
        failure(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", field="ttl")
    )
    assert isinstance(error, tc.InvalidArgument)
    assert error.field == "ttl" and error.metadata == {"field": "ttl"}
    assert str(error) == "invalid_argument: msg (field ttl)"


def test_without_a_tessera_reason_the_code_decides() -> None:
    foreign = tc.from_rpc_error(
        failure(grpc.StatusCode.PERMISSION_DENIED, "AUTH_FAILED", domain="mesh")
    )
    assert type(foreign) is tc.AuthDenied and foreign.reason is None
    future = tc.from_rpc_error(failure(grpc.StatusCode.UNAUTHENTICATED, "SOMETHING_NEW"))
    assert type(future) is tc.AuthFailed and future.reason == "SOMETHING_NEW"
    bare = tc.from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "slow", ()))
    assert type(bare) is tc.DeadlineExceeded and bare.reason is None
    other = tc.from_rpc_error(FakeRpcError(grpc.StatusCode.ABORTED, "", ()))
    assert type(other) is tc.TesseraError and str(other) == "aborted"
    garbled = FakeRpcError(
        grpc.StatusCode.UNAVAILABLE, "x", (("grpc-status-details-bin", b"\xff\xff"),)
    )
    assert type(tc.from_rpc_error(garbled)) is tc.Unavailable


def test_format_ttl() -> None:
    assert format_ttl(None) == ""
    assert format_ttl(" 15m ") == "15m"
    assert format_ttl(timedelta(minutes=90)) == "1h30m"
    assert format_ttl(timedelta(days=8, seconds=5)) == "8d5s"
    assert format_ttl(timedelta(milliseconds=1500)) == "2s", "rounded up to whole seconds"
    for bad in (timedelta(0), timedelta(seconds=-5)):
        with pytest.raises(ValueError):
            format_ttl(bad)


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    for value in (None, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearerabc"):
        assert bearer_token(value) is None, value


def test_introspection_helpers() -> None:
    scoped = Introspection(active=True, namespace="deploy.", permissions=("read",))
    assert scoped.may_touch("deploy.daily") and scoped.may_touch("deploy.")
    assert not scoped.may_touch("deploy") and not scoped.may_touch("backup.x")
    assert scoped.has_permission("read") and not scoped.has_permission("write")
    everything = Introspection(active=True, namespace="*", permissions=("*",))
    assert everything.may_touch("anything") and everything.has_permission("admin")
    inactive = Introspection(active=False, namespace="*", permissions=("*",))
    assert not inactive.may_touch("x") and not inactive.has_permission("read")


def test_arguments_are_checked_before_sending() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with tc.Client("127.0.0.1:1") as client:
        with pytest.raises(ValueError):
            client.revoke(token="a", token_id="b")
        with pytest.raises(ValueError):
            client.issue_token(max_uses=0)
        with pytest.raises(TypeError):
            client.issue_token(permissions="read")
        with pytest.raises(ValueError):
            client.watch_revocations(after_sequence=-1)
    with pytest.raises(ValueError):
        tc.Client("127.0.0.1:1", timeout=0)


def test_retry_backoff_is_bounded() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=0.3, multiplier=2)
    for attempt in range(1, 10):
        assert 0 <= policy.backoff(attempt) <= min(0.3, 0.1 * 2 ** (attempt - 1))


def test_token_hash_matches_the_servers_key() -> None:
    assert (
        tc.token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_a_cancelled_unary_call_is_a_server_side_timeout() -> None:
    from tessera_auth_client._wire import unary_failure

    timed_out = unary_failure(FakeRpcError(grpc.StatusCode.CANCELLED, "Timeout expired", ()))
    assert type(timed_out) is tc.DeadlineExceeded and timed_out.code is grpc.StatusCode.CANCELLED
    assert (
        type(tc.from_rpc_error(FakeRpcError(grpc.StatusCode.CANCELLED, "", ()))) is tc.TesseraError
    )
    denied = unary_failure(failure(grpc.StatusCode.PERMISSION_DENIED, "AUTH_DENIED"))
    assert type(denied) is tc.AuthDenied


def test_several_addresses_are_each_checked() -> None:
    from tessera_auth_client import _wire

    parsed = _wire.parse_targets(["http://127.0.0.1:1", "127.0.0.1:2"], False)
    assert parsed == [("127.0.0.1:1", False), ("127.0.0.1:2", False)]
    with pytest.raises(ValueError, match="no Tessera address"):
        _wire.parse_targets([], False)
    with pytest.raises(ValueError, match="not a Tessera address"):
        _wire.parse_targets(["http://127.0.0.1:1", "ftp://x:2"], False)


def test_results_read_from_the_reply_behave_as_the_dataclasses() -> None:
    issued = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    reply = pb.IntrospectResponse(
        active=True,
        token_id="t1",
        token_type=pb.TOKEN_TYPE_API,
        subject="s",
        username="u",
        roles=["admin"],
        permissions=["read"],
        namespace="deploy.",
        issued_at=timestamp_pb2.Timestamp(seconds=int(issued.timestamp()), nanos=678_901_999),
        session_id="sid",
    )
    plain = Introspection(
        active=True,
        token_id="t1",
        token_type=tc.TokenType.API,
        subject="s",
        username="u",
        roles=("admin",),
        permissions=("read",),
        namespace="deploy.",
        issued_at=issued,
        session_id="sid",
    )
    read = _wire.introspection(reply)
    assert isinstance(read, Introspection) and dataclasses.is_dataclass(read)
    assert read == plain and plain == read and hash(read) == hash(plain)
    assert [read != plain, plain != read] == [False, False]
    assert repr(read) == repr(plain)
    assert dataclasses.asdict(read) == dataclasses.asdict(plain)
    assert read.issued_at == reply.issued_at.ToDatetime(tzinfo=timezone.utc)
    assert read.expires_at is None and read.uses_remaining is None
    assert read.has_permission("read") and not read.has_permission("write")
    assert read.may_touch("deploy.daily") and not read.may_touch("backup.x")
    moved = dataclasses.replace(read, namespace="backup.")
    assert type(moved) is Introspection and moved.namespace == "backup." and moved.token_id == "t1"
    for copied in (copy.copy(read), copy.deepcopy(read), pickle.loads(pickle.dumps(read))):
        assert type(copied) is Introspection and copied == plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.namespace = "x"  # type: ignore[misc]
    assert _wire.introspection(pb.IntrospectResponse(active=False, token_id="x")) == Introspection(
        active=False
    )

    check = _wire.namespace_check(
        pb.CheckNamespaceResponse(
            active=True,
            allowed=False,
            results=[
                pb.IdentifierDecision(identifier="deploy.a", allowed=True),
                pb.IdentifierDecision(identifier="backup.b", allowed=False),
            ],
            namespace="deploy.",
            token_id="t1",
        )
    )
    assert check == tc.NamespaceCheck(
        active=True,
        allowed=False,
        results=(
            tc.IdentifierDecision("deploy.a", True),
            tc.IdentifierDecision("backup.b", False),
        ),
        namespace="deploy.",
        token_id="t1",
    )
    assert check.allowed_identifiers == ("deploy.a",)
    assert type(pickle.loads(pickle.dumps(check))) is tc.NamespaceCheck
