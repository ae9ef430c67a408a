"""Where a DICOMweb node's secret lives (viewer.pacs.credentials): the OS keyring when a usable backend exists (a
real keyring backend class kept in memory stands in for it here), else this session's memory, asked once; never in
the configuration file, the logs or the output."""

from __future__ import annotations

import logging

import keyring
import pytest
from conftest import MemoryKeyring
from keyring.backends import fail
from keyring.errors import PasswordSetError

from viewer.pacs import credentials
from viewer.pacs.credentials import SERVICE, forget_secret, keyring_available, secret_for, store_secret
from viewer.pacs.nodes import Node, NodeStore

SECRET = "s3cr3t-Pa55-for-test"


class LockedKeyring(MemoryKeyring):
    def set_password(self, service, username, password):
        raise PasswordSetError("the keyring is locked")


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(credentials, "_session", {})
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


@pytest.fixture
def memory():
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def no_keyring():
    keyring.set_keyring(fail.Keyring())


def web(name="pacs", auth="basic", username="reader"):
    return Node(name, "dicomweb", url="https://pacs.example/dicom-web", auth=auth, username=username)


class Asker:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def __call__(self, node):
        self.asked.append(node.name)
        return self.answer


def test_a_node_without_authentication_needs_nothing(memory):
    ask = Asker(SECRET)
    assert secret_for(web(auth="none", username=""), ask) is None
    assert secret_for(Node("d", "dimse", ae_title="PACS", host="h"), ask) is None
    assert ask.asked == []


def test_the_keyring_keeps_it_under_radcam_pacs(memory):
    assert keyring_available()
    node = web()
    assert store_secret(node, SECRET) is True
    assert memory.items == {(SERVICE, "pacs:reader"): SECRET}
    assert SERVICE == "RadCAM PACS"
    ask = Asker("other")
    assert secret_for(node, ask) == SECRET and ask.asked == []
    assert credentials._session == {}  # not kept twice
    forget_secret(node)
    assert memory.items == {}
    assert secret_for(node) is None


def test_a_bearer_token_has_its_own_entry(memory):
    store_secret(web("a", auth="bearer", username=""), "tok")
    store_secret(web("b", username="u"), SECRET)
    assert memory.items == {(SERVICE, "a:"): "tok", (SERVICE, "b:u"): SECRET}


def test_without_a_keyring_it_is_asked_once_per_session(no_keyring):
    assert not keyring_available()
    node, ask = web(), Asker(SECRET)
    assert secret_for(node, ask) == SECRET
    assert secret_for(node, ask) == SECRET
    assert secret_for(node) == SECRET
    assert ask.asked == ["pacs"]
    assert secret_for(web("other"), ask) == SECRET and ask.asked == ["pacs", "other"]
    forget_secret(node)
    assert secret_for(node) is None


def test_a_refusal_to_answer_is_not_remembered(no_keyring):
    node = web()
    assert secret_for(node, Asker(None)) is None
    assert secret_for(node, Asker("")) is None
    assert secret_for(node, Asker(SECRET)) == SECRET


def test_store_without_a_keyring_is_for_the_session_only(no_keyring):
    node = web()
    assert store_secret(node, SECRET) is False
    assert secret_for(node, Asker("never asked")) == SECRET


def test_a_locked_keyring_falls_back_to_the_session():
    keyring.set_keyring(LockedKeyring())
    node = web()
    assert store_secret(node, SECRET) is False
    assert secret_for(node) == SECRET


def test_an_empty_keyring_chain_is_no_keyring(monkeypatch):
    from keyring.backends.chainer import ChainerBackend

    monkeypatch.setattr(ChainerBackend, "backends", [])  # no OS keyring installed (a headless CI machine)
    keyring.set_keyring(ChainerBackend())
    assert not keyring_available()
    monkeypatch.setattr(ChainerBackend, "backends", [MemoryKeyring()])
    assert keyring_available()


@pytest.mark.parametrize("with_keyring", [True, False])
def test_the_secret_is_never_logged_printed_or_written(with_keyring, tmp_path, caplog, capfd):
    keyring.set_keyring(MemoryKeyring() if with_keyring else fail.Keyring())
    caplog.set_level(logging.DEBUG)
    store = NodeStore()
    node = web()
    store.put(node)
    store_secret(node, SECRET)
    assert secret_for(node, Asker(SECRET)) == SECRET
    forget_secret(node)
    secret_for(node, Asker(SECRET))
    out, err = capfd.readouterr()
    assert SECRET not in caplog.text + out + err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
