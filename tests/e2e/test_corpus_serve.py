"""Every runnable flow of the corpus runs through the real globus-sdk against one real `openflows serve`, on
local collections added with the CLI (while the server starts: providers read them live), and each test checks
the files on disk afterwards.

One test per corpus file (`test_corpus_flow[<file>]`): the flow is created with `FlowsClient`, started with
`SpecificFlowClient`, polled with `get_run` until it ends, and its output, files, outbox and search index are
checked (the sharing flows: that the rule they made lets its principal in, and no further). Flows that call
providers OpenFlows does not emulate are listed in `NOT_EMULATED` with the reason;
`test_not_emulated_is_exactly_the_flows_with_foreign_providers` keeps that list honest against the providers'
URL table, and `test_every_runnable_flow_has_a_case` makes a new corpus file need a case here."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import os
import tarfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import globus_sdk
import httpx
import pytest
from corpuskit import action_urls, read_tree, write_tree
from crashkit import ServerProcess, wait_until
from typer.testing import CliRunner

from corpus import CORPUS_DIR, CORPUS_FILES
from openflows.providers.base import ProviderRegistry
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.config import ProviderSettings
from openflows.providers.runner import ActionRunner
from openflows.store.db import Database

pytestmark = pytest.mark.slow

#: longest wait for one corpus run to end
RUN_TIMEOUT = 60.0  # seconds
#: the Globus tutorial collection gac-loop-with-batch-processing lists (its id is written in the flow)
TUTORIAL_ENDPOINT = "ddb59aef-6d04-11e5-ba46-22000b92c6ec"
#: where the compute tasks of the server import their functions from
E2E_DIR = Path(__file__).resolve().parent
PROVIDER_TESTS_DIR = E2E_DIR.parent / "providers"

#: the compute functions the corpus cases run (module:callable, imported by the server's compute tasks)
FUNCTIONS = ("flowfuncs:count_files", "flowfuncs:make_tar", "corpuskit:gather_metadata")

#: corpus flows that call providers OpenFlows does not emulate, and why they are not run
NOT_EMULATED: dict[str, str] = {}

#: corpus flows that fail because of a known product bug: file -> reason (xfail, strict)
PRODUCT_BUGS: dict[str, str] = {}

RUNNABLE = sorted(path.name for path in CORPUS_FILES if path.name not in NOT_EMULATED)


@dataclasses.dataclass(frozen=True)
class LocalCollection:
    id: str
    root: Path


class Corpus:
    """One `openflows serve` with local collections and compute functions, driven with the globus-sdk.

    Administration (`tokens`, `collections`, `functions`, `search`) runs the real `openflows` command
    in-process (Typer's runner) on the server's home and database: a new Python process per command would
    cost seconds each."""

    def __init__(self, server: ServerProcess, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.collections: dict[str, LocalCollection] = {}
        self.functions: dict[str, str] = {}
        # the first command creates the database, before the server starts on it
        token = json.loads(self.cli("tokens", "create", "--username", "alice", "--json").splitlines()[-1])
        self.authorizer = globus_sdk.AccessTokenAuthorizer(token["token"])
        self.flows = globus_sdk.FlowsClient(base_url=server.url, authorizer=self.authorizer)

    def cli(self, *args: str) -> str:
        """`openflows ARGS...` with the server's OPENFLOWS_* variables (and no others): its stdout."""
        from openflows.cli.main import app

        env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("OPENFLOWS_")}
        env.update({k: v for k, v in self.server.env.items() if k.startswith("OPENFLOWS_")})
        result = CliRunner().invoke(app, list(args), env=env, prog_name="openflows")
        assert result.exit_code == 0 and result.exception is None, (
            f"openflows {' '.join(args)} exited {result.exit_code}: {result.output}{result.exception!r}"
        )
        return result.stdout

    @property
    def outbox(self) -> Path:
        return self.server.home / "outbox"

    def add_collection(self, name: str, collection_id: str | None = None) -> None:
        """A collection owned by alice, who runs the corpus flows."""
        root = self.tmp / "collections" / name
        root.mkdir(parents=True)
        key = collection_id or str(uuid.uuid4())
        self.cli("collections", "add", "--id", key, "--name", name, "--owner", "alice", str(root))
        self.collections[name] = LocalCollection(key, root.resolve())

    def register_function(self, target: str) -> None:
        key = str(uuid.uuid4())
        self.cli("functions", "register", "--id", key, target)
        self.functions[target] = key

    def id(self, name: str) -> str:
        return self.collections[name].id

    def root(self, name: str) -> Path:
        return self.collections[name].root

    def start(self, flow: str, body: dict[str, Any]) -> tuple[globus_sdk.SpecificFlowClient, str]:
        """Create the corpus flow `flow` and start a run of it with `body`: (its client, the run id)."""
        definition = json.loads((CORPUS_DIR / flow).read_text())
        created = self.flows.create_flow(title=flow, definition=definition, input_schema={})
        specific = globus_sdk.SpecificFlowClient(created["id"], authorizer=self.authorizer)
        specific.base_url = self.server.url  # type: ignore[misc]
        return specific, specific.run_flow(body, label=f"corpus {flow}")["run_id"]

    def wait(self, run_id: str, statuses: tuple[str, ...] = ("SUCCEEDED", "FAILED", "ENDED")) -> dict:
        def reached() -> dict | None:
            doc = self.flows.get_run(run_id).data
            return doc if doc["status"] in statuses else None

        return wait_until(
            reached, timeout=RUN_TIMEOUT, interval=0.1, what=f"run {run_id} to reach {statuses}"
        )

    def run(self, flow: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run `flow` to its end, assert it SUCCEEDED, and return its output."""
        _, run_id = self.start(flow, body)
        doc = self.wait(run_id)
        assert doc["status"] == "SUCCEEDED", json.dumps(doc["details"], indent=1)[:3000]
        return doc["details"]["output"]

    def mail(self, subject: str) -> str | None:
        """The text of the outbox message with this subject (None while there is none)."""
        for path in sorted(self.outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["Subject"] == subject:
                return message.get_body(("html", "plain")).get_content()  # type: ignore[union-attr]
        return None

    def search(self, index: str) -> dict[str, Any]:
        return json.loads(self.cli("search", "show", index))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("corpus")
    home = tmp / "home"
    home.mkdir()
    python_path = [str(E2E_DIR), str(PROVIDER_TESTS_DIR), os.environ.get("PYTHONPATH", "")]
    server = ServerProcess(
        home,
        extra_env={
            "OPENFLOWS_POLL_INITIAL_SECONDS": "0.1",
            "OPENFLOWS_POLL_MAX_SECONDS": "0.5",
            "OPENFLOWS_TRANSFER_THREADS": "2",
            "OPENFLOWS_COMPUTE_TIMEOUT_SECONDS": "30",
            "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
        },
    )
    world = Corpus(server, tmp)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = pool.submit(server.start)
            # added while the server starts: providers read collections and functions from the database
            # whenever a request names one, so a running server needs no restart
            for name in ("src", "stage", "dst"):
                world.add_collection(name)
            world.add_collection("tutorial", TUTORIAL_ENDPOINT)
            for target in FUNCTIONS:
                world.register_function(target)
            started.result()
        yield world
    finally:
        server.stop()


# -- one case per runnable corpus flow ---------------------------------------------------------------------

Case = Callable[[Corpus, str], None]
CASES: dict[str, Case] = {}


def case(flow: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        CASES[flow] = function
        return function

    return register


@case("gac-docs-move-copy-and-delete.json")
def run_docs_move_copy_and_delete(corpus: Corpus, tag: str) -> None:
    src, dst = corpus.root("src") / tag, corpus.root("dst") / tag
    expected = write_tree(src / "project", {"data.csv": "1,2", "raw/r.bin": b"\x07" * 64})
    (dst / "archive").mkdir(parents=True)
    out = corpus.run(
        "gac-docs-move-copy-and-delete.json",
        {
            "source": {"id": corpus.id("src"), "path": f"/{tag}/project"},
            "destination": {"id": corpus.id("dst"), "path": f"/{tag}/archive"},
        },
    )
    assert out["SourceInfo"]["is_recursive"] is True
    assert out["DestinationInfo"]["is_folder"] is True
    assert read_tree(dst / "archive" / "project") == expected
    assert not (src / "project").exists()


@case("gac-failed-consent.json")
def run_failed_consent(corpus: Corpus, tag: str) -> None:
    specific, run_id = corpus.start("gac-failed-consent.json", {})
    inactive = corpus.wait(run_id, ("INACTIVE", "SUCCEEDED", "FAILED", "ENDED"))
    assert inactive["status"] == "INACTIVE", inactive["details"]
    assert inactive["details"]["code"] == "ConsentRequired", inactive["details"]
    specific.resume_run(run_id)
    failed = corpus.wait(run_id)
    assert failed["status"] == "FAILED", failed["details"]
    assert failed["details"] == {
        "code": "FlowFailed",
        "description": "The Flow run failed at state FailState with error YourErrorCode",
        "details": {
            "error": "YourErrorCode",
            "cause": "The text provided here will appear in the Run's details failure information",
            "state_name": "FailState",
        },
    }


@case("gac-hello-plus-transfer.json")
def run_hello_plus_transfer(corpus: Corpus, tag: str) -> None:
    write_tree(corpus.root("src") / tag, {"f.txt": "hello"})
    out = corpus.run(
        "gac-hello-plus-transfer.json",
        {
            "HelloInput": {"echo_string": "hi"},
            "TransferInput": {
                "source_endpoint_id": corpus.id("src"),
                "destination_endpoint_id": corpus.id("dst"),
                "source_path": f"/{tag}/f.txt",
                "destination_path": f"/{tag}/g.txt",
                "recursive": False,
            },
        },
    )
    assert out["HelloOutput"]["details"]["hello"] == "hi"
    assert (corpus.root("dst") / tag / "g.txt").read_bytes() == b"hello"


@case("gac-hello-world-run-as.json")
def run_hello_world_run_as(corpus: Corpus, tag: str) -> None:
    # `RunAs: "pruyne"`: the state acts as whoever the input's `_tokens.pruyne` belongs to (issue 14)
    made = corpus.cli("tokens", "create", "--username", "pruyne", "--scope", "hello_world", "--json")
    pruyne = json.loads(made.splitlines()[-1])
    out = corpus.run("gac-hello-world-run-as.json", {"_tokens": {"pruyne": pruyne["token"]}})
    assert out["HelloResult"]["status"] == "SUCCEEDED"
    assert out["HelloResult"]["details"]["hello"] == "Run As Pruyne"
    assert out["HelloResult"]["creator_id"] == pruyne["identity_urn"]


@case("gac-hello-world.json")
def run_hello_world(corpus: Corpus, tag: str) -> None:
    out = corpus.run("gac-hello-world.json", {"input": {"echo_string": tag, "sleep_time": 1}})
    assert out["HelloResult"]["details"] == {"Hello": "World", "hello": tag}


@case("gac-loop-a-set-number-of-times.json")
def run_loop_a_set_number_of_times(corpus: Corpus, tag: str) -> None:
    out = corpus.run("gac-loop-a-set-number-of-times.json", {})
    assert out == {"state_manager": {"counter": 10}}


@case("gac-loop-with-batch-processing.json")
def run_loop_with_batch_processing(corpus: Corpus, tag: str) -> None:
    write_tree(corpus.root("tutorial"), {f"file{i}.txt": str(i) for i in range(7)})
    out = corpus.run("gac-loop-with-batch-processing.json", {"step": 3})
    assert out["state"]["batches"] == [
        ["file0.txt", "file1.txt", "file2.txt"],
        ["file3.txt", "file4.txt", "file5.txt"],
        ["file6.txt"],
    ]


@case("gac-pass-with-parameters.json")
def run_pass_with_parameters(corpus: Corpus, tag: str) -> None:
    out = corpus.run("gac-pass-with-parameters.json", {"given": tag})
    assert out == {"given": tag, "PassResult": {"foo": "bar", "value_5": 5}}


@case("gac-send-notification.json")
def run_send_notification(corpus: Corpus, tag: str) -> None:
    subject = f"corpus {uuid.uuid4()}"
    out = corpus.run(
        "gac-send-notification.json",
        {
            "EmailNotificationInput": {
                "destination": "someone@example.org",
                "subject": subject,
                "body_template": "Dear $who",
                "body_variables": {"who": "reader"},
            }
        },
    )
    assert out["EmailNotificationResult"]["status"] == "SUCCEEDED"
    (text,) = [t for t in (p.read_text() for p in corpus.outbox.glob("*.eml")) if subject in t]
    assert "To: someone@example.org" in text
    assert "Dear reader" in text


@case("gac-single-delete.json")
def run_single_delete(corpus: Corpus, tag: str) -> None:
    area = corpus.root("src") / tag
    write_tree(area, {"old/a": "a", "old/b/c": "c", "keep": "k"})
    out = corpus.run(
        "gac-single-delete.json",
        {"endpoint_id": corpus.id("src"), "items": [f"/{tag}/old"], "recursive": True, "label": "cleanup"},
    )
    assert out["DeleteResult"]["details"]["label"] == "cleanup"
    assert read_tree(area) == {"keep": b"k"}
    assert not (area / "old").exists()


@case("gac-single-transfer.json")
def run_single_transfer(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag, {"data/a.txt": "a", "data/b/c.txt": b"\x00c\xff"})
    out = corpus.run(
        "gac-single-transfer.json",
        {
            "source_endpoint_id": corpus.id("src"),
            "destination_endpoint_id": corpus.id("dst"),
            "transfer_items": [
                {"source_path": f"/~/{tag}/data", "destination_path": f"/~/{tag}/copy", "recursive": True}
            ],
        },
    )
    assert out["TransferResult"]["status"] == "SUCCEEDED"
    assert out["TransferResult"]["details"]["files_transferred"] == 2
    assert read_tree(corpus.root("dst") / tag / "copy") == {
        k.removeprefix("data/"): v for k, v in source.items()
    }


@case("gac-transfer-mv.json")
def run_transfer_mv(corpus: Corpus, tag: str) -> None:
    src = corpus.root("src") / tag
    source = write_tree(src / "move", {"me.txt": "m", "sub/too.txt": "t"})
    out = corpus.run(
        "gac-transfer-mv.json",
        {
            "source_endpoint_id": corpus.id("src"),
            "destination_endpoint_id": corpus.id("dst"),
            "source_path": f"/{tag}/move",
            "destination_path": f"/{tag}/moved",
            "recursive": True,
            "transfer_label": "mv",
            "delete_label": "mv-delete",
        },
    )
    assert out["FlowResult"] == {"message": "Move operation complete"}
    assert read_tree(corpus.root("dst") / tag / "moved") == source
    assert not (src / "move").exists()


@case("gac-notify-of-options-and-report.json")
def run_notify_of_options_and_report(corpus: Corpus, tag: str) -> None:
    """The choice is offered by email (the outbox), made by opening the emailed link, reported by email."""
    base = corpus.server.url
    subject = f"Choose {uuid.uuid4()}"
    _, run_id = corpus.start(
        "gac-notify-of-options-and-report.json",
        {
            "notification_recipient": "reviewer@example.org",
            "notification_subject": subject,
            "notification_body_template": "<p>Accept: $accept_url</p><p>Reject: $reject_url</p>",
            "notification_body_variables": {
                "accept_option_suffix": f"accept-{tag}",
                "reject_option_suffix": f"reject-{tag}",
                "accept_url": f"{base}weboption/option/accept-{tag}",
                "reject_url": f"{base}weboption/option/reject-{tag}",
            },
            "server_credentials": [
                {"credential_type": "smtp", "credential_value": {"hostname": "smtp.example.org:587"}}
            ],
            "result_subject": f"Result {tag}",
            "result_body_template": "You chose $name ($url_suffix)",
        },
    )
    offer = wait_until(
        lambda: corpus.mail(subject), timeout=RUN_TIMEOUT, what="the email offering the options"
    )
    accept_url = next(word for word in offer.replace("<", " ").split() if word.endswith(f"accept-{tag}"))
    chosen = wait_until(
        lambda: (lambda r: r if r.status_code == 200 else None)(httpx.get(accept_url, timeout=10)),
        timeout=RUN_TIMEOUT,
        what="the accept option to be offered",
    )
    assert "Thank you for choosing to Accept" in chosen.text
    assert httpx.get(accept_url, timeout=10).status_code == 404  # chosen: gone
    doc = corpus.wait(run_id)
    assert doc["status"] == "SUCCEEDED", doc["details"]
    out = doc["details"]["output"]
    assert out["OptionResult"]["details"] == {
        "name": "Accept",
        "url_suffix": f"accept-{tag}",
        "parameters": {},
    }
    report = corpus.mail(f"Result {tag}")
    assert f"You chose Accept (accept-{tag})" in report


@case("gac-web-option-with-parameters.json")
def run_web_option_with_parameters(corpus: Corpus, tag: str) -> None:
    """The landing page shows the options; option b is chosen over HTTP with a query parameter."""
    base = corpus.server.url
    _, run_id = corpus.start("gac-web-option-with-parameters.json", {})
    landing = wait_until(
        lambda: (lambda r: r if r.status_code == 200 else None)(
            httpx.get(f"{base}weboption/landing_page/jcp_landing_page", timeout=10)
        ),
        timeout=RUN_TIMEOUT,
        what="the landing page",
    )
    assert "Hey, Make a choice" in landing.text and "Please make a very careful decision" in landing.text
    assert 'href="/weboption/option/jcp_option_b_new"' in landing.text
    chosen = httpx.get(
        f"{base}weboption/option/jcp_option_b_new?comment=careful", headers={"Accept": "application/json"}
    )
    assert chosen.json() == {
        "message": "Thank you for selecting 'b'",
        "name": "b",
        "url_suffix": "jcp_option_b_new",
    }
    doc = corpus.wait(run_id)
    assert doc["status"] == "SUCCEEDED", doc["details"]
    assert doc["details"]["output"]["WebOptionResult"]["details"] == {
        "name": "b",
        "url_suffix": "jcp_option_b_new",
        "parameters": {"comment": "careful"},
    }


@case("gladier-tools-publishv2.json")
def run_gladier_publishv2(corpus: Corpus, tag: str) -> None:
    dataset = corpus.root("src") / tag / "dataset"
    source = write_tree(dataset, {"scan.h5": b"\x89HDF" * 50, "notes/readme.txt": "published"})
    index = f"corpus-{tag}"
    destination = f"/{tag}/published"
    out = corpus.run(
        "gladier-tools-publishv2.json",
        {
            "input": {
                "compute_endpoint": str(uuid.uuid4()),
                "publishv2_gather_metadata_function_id": corpus.functions["corpuskit:gather_metadata"],
                "publishv2": {
                    "dataset_dir": str(dataset),
                    "source_collection": corpus.id("src"),
                    "source_path": f"/{tag}/dataset",
                    "destination_collection": corpus.id("dst"),
                    "destination_path": destination,
                    "index": index,
                    "enable_transfer": True,
                    "enable_publish": True,
                },
            }
        },
    )
    assert out["Publishv2Transfer"]["status"] == "SUCCEEDED"
    assert out["Publishv2Ingest"]["status"] == "SUCCEEDED"
    assert read_tree(corpus.root("dst") / tag / "published") == source
    shown = corpus.search(index)
    assert shown["total"] == 1
    assert shown["entries"] == [
        {
            "subject": f"globus://{corpus.id('dst')}{destination}",
            "id": "metadata",
            "visible_to": ["public"],
            "content": {"title": "dataset", "files": ["notes/readme.txt", "scan.h5"]},
        }
    ]


@case("gladier-tools-transfer.json")
def run_gladier_transfer(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag / "in", {"x.dat": b"\x00" * 100, "y/z.dat": b"\x01" * 10})
    out = corpus.run(
        "gladier-tools-transfer.json",
        {
            "input": {
                "transfer_source_endpoint_id": corpus.id("src"),
                "transfer_destination_endpoint_id": corpus.id("dst"),
                "transfer_source_path": f"/{tag}/in",
                "transfer_destination_path": f"/{tag}/gladier",
                "transfer_recursive": True,
            }
        },
    )
    assert out["Transfer"]["details"]["DATA_TYPE"] == "task"
    assert read_tree(corpus.root("dst") / tag / "gladier") == source


@case("sdk-two-hop-transfer.json")
def run_sdk_two_hop_transfer(corpus: Corpus, tag: str) -> None:
    source = write_tree(
        corpus.root("src") / tag / "dataset",
        {f"d{i % 3}/f{i:02}.dat": f"file {i}\n" * (i % 5 + 1) for i in range(30)},
    )
    out = corpus.run(
        "sdk-two-hop-transfer.json",
        {
            "source_endpoint_id": corpus.id("src"),
            "source_path": f"/~/{tag}/dataset",
            "staging_endpoint_id": corpus.id("stage"),
            "staging_path": f"/~/{tag}/staging",
            "destination_endpoint_id": corpus.id("dst"),
            "destination_path": f"/~/{tag}/published",
        },
    )
    assert out["Transfer1Result"]["details"]["files_transferred"] == 30
    assert out["Transfer2Result"]["details"]["files_transferred"] == 30
    assert read_tree(corpus.root("stage") / tag / "staging") == source
    assert read_tree(corpus.root("dst") / tag / "published") == source


@case("trigger-tar-transfer.json")
def run_trigger_tar_transfer(corpus: Corpus, tag: str) -> None:
    src = corpus.root("src") / tag
    write_tree(src, {"results/r1.txt": "r1", "results/r2.txt": "r2"})
    tar_path = str(src / "results.tgz")
    out = corpus.run(
        "trigger-tar-transfer.json",
        {
            "tar": {
                "compute_endpoint_id": str(uuid.uuid4()),
                "compute_function_id": corpus.functions["flowfuncs:make_tar"],
                "compute_function_kwargs": {"tar_path": tar_path, "paths": [str(src / "results")]},
            },
            "transfer": {
                "source_collection": corpus.id("src"),
                "destination_collection": corpus.id("dst"),
                "source_path": f"/{tag}/results.tgz",
                "destination_path": f"/{tag}/results.tgz",
            },
        },
    )
    assert out["TarResult"]["details"]["result"] == [tar_path]
    landed = corpus.root("dst") / tag / "results.tgz"
    assert landed.read_bytes() == Path(tar_path).read_bytes()
    with tarfile.open(landed) as tar:
        assert sorted(tar.getnames()) == ["results", "results/r1.txt", "results/r2.txt"]


@case("trigger-transfer-compute.json")
def run_trigger_transfer_compute(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag / "batch", {"1": "a", "2": "b", "3/4": "c"})
    landed = corpus.root("dst") / tag / "landed"
    out = corpus.run(
        "trigger-transfer-compute.json",
        {
            "input": {
                "source": {"id": corpus.id("src"), "path": f"/{tag}/batch"},
                "destination": {"id": corpus.id("dst"), "path": f"/{tag}/landed"},
                "recursive_tx": True,
                "compute_endpoint_id": str(uuid.uuid4()),
                "compute_function_id": corpus.functions["flowfuncs:count_files"],
                "compute_function_kwargs": {"directory": str(landed)},
            }
        },
    )
    assert out["ProcessFiles"]["details"]["result"] == [3]
    assert read_tree(landed) == source


def _rules_of(corpus: Corpus, collection: str) -> list[dict[str, Any]]:
    shown = json.loads(corpus.cli("collections", "show", corpus.id(collection), "--json"))
    return list(shown["rules"])


def _ls_as(corpus: Corpus, token: str, collection: str, path: str) -> int:
    """The HTTP status of `ls` of the built-in provider with `token` (202: allowed, 403: refused)."""
    request = {"request_id": uuid.uuid4().hex, "body": {"endpoint_id": corpus.id(collection), "path": path}}
    response = httpx.post(
        f"{corpus.server.url.rstrip('/')}/actions/ls/run",
        json=request,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code


@case("trigger-transfer-share.json")
def run_trigger_transfer_share(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag / "in", {"x.dat": b"\x00" * 10, "y/z.dat": b"z"})
    reader = json.loads(
        corpus.cli("tokens", "create", "--username", f"reader-{tag}", "--json").splitlines()[-1]
    )
    assert _ls_as(corpus, reader["token"], "dst", f"/{tag}/shared") == 403
    out = corpus.run(
        "trigger-transfer-share.json",
        {
            "input": {
                "source": {"id": corpus.id("src"), "path": f"/{tag}/in"},
                "destination": {"id": corpus.id("dst"), "path": f"/{tag}/shared"},
                "recursive_tx": True,
                "principal": {"type": "identity", "id": reader["identity_id"]},
            }
        },
    )
    assert read_tree(corpus.root("dst") / tag / "shared") == source
    access_id = out["SetPermission"]["details"]["access_id"]
    [rule] = [rule for rule in _rules_of(corpus, "dst") if rule["id"] == access_id]
    assert (rule["principal"], rule["path"], rule["permissions"]) == (
        reader["identity_urn"],
        f"/{tag}/shared/",
        "r",
    )
    assert _ls_as(corpus, reader["token"], "dst", f"/{tag}/shared") == 202
    assert _ls_as(corpus, reader["token"], "dst", f"/{tag}") == 403


@case("trigger-transfer-publish.json")
def run_trigger_transfer_publish(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag / "results", {"r1.txt": "r1"})
    member = json.loads(
        corpus.cli(
            "tokens", "create", "--username", f"member-{tag}", "--group", f"g-{tag}", "--json"
        ).splitlines()[-1]
    )
    [group_urn] = member["group_urns"]
    index = f"corpus-{tag}"
    out = corpus.run(
        "trigger-transfer-publish.json",
        {
            "input": {
                "source": {"id": corpus.id("src"), "path": f"/{tag}/results"},
                "destination": {"id": corpus.id("dst"), "path": f"/{tag}/published/"},
                "recursive_tx": True,
                "principal_type": "group",
                "principal_identifier": group_urn.rsplit(":", 1)[1],
                "search_ingest_document": {
                    "search_index": index,
                    "search_subject": f"globus://{corpus.id('dst')}/{tag}/published/",
                    "search_visible_to": ["public"],
                    "search_content_metadata": {"title": "results"},
                    "search_entry_id": "metadata",
                    "search_restricted_visible_to": [group_urn],
                    "search_content_restricted_metadata": {"owner": "lab"},
                    "search_restricted_entry_id": "restricted",
                },
            }
        },
    )
    assert out["SetPermission"]["status"] == "SUCCEEDED", out["SetPermission"]
    assert read_tree(corpus.root("dst") / tag / "published") == source
    assert [
        (rule["principal"], rule["permissions"])
        for rule in _rules_of(corpus, "dst")
        if rule["path"] == f"/{tag}/published/"
    ] == [(group_urn, "r")]
    assert _ls_as(corpus, member["token"], "dst", f"/{tag}/published") == 202
    assert sorted(entry["id"] for entry in corpus.search(index)["entries"]) == ["metadata", "restricted"]


@case("trigger-transfer.json")
def run_trigger_transfer(corpus: Corpus, tag: str) -> None:
    source = write_tree(corpus.root("src") / tag / "in", {"x.dat": b"\x00" * 100, "y.dat": b"\x01" * 10})
    out = corpus.run(
        "trigger-transfer.json",
        {
            "input": {
                "source": {"id": corpus.id("src"), "path": f"/{tag}/in"},
                "destination": {"id": corpus.id("dst"), "path": f"/{tag}/trigger"},
                "recursive_tx": True,
            }
        },
    )
    assert out["TransferFiles"]["status"] == "SUCCEEDED"
    assert read_tree(corpus.root("dst") / tag / "trigger") == source


# -- the tests ---------------------------------------------------------------------------------------------


def _flow_param(flow: str) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=PRODUCT_BUGS[flow])] if flow in PRODUCT_BUGS else []
    return pytest.param(flow, id=flow, marks=marks)


@pytest.mark.parametrize("flow", [_flow_param(flow) for flow in RUNNABLE])
def test_corpus_flow(corpus: Corpus, flow: str):
    assert flow in CASES, f"no case runs the corpus flow {flow}: add one to {__name__}"
    CASES[flow](corpus, flow.removesuffix(".json"))


def test_every_runnable_flow_has_a_case():
    assert sorted(CASES) == RUNNABLE


def test_not_emulated_is_exactly_the_flows_with_foreign_providers(db: Database, tmp_path: Path):
    """A flow is listed in NOT_EMULATED exactly when one of its ActionUrls reaches no built-in provider (so a
    newly emulated provider, or a new corpus flow, forces the list to be updated)."""
    runner = ActionRunner(db, inline=True)
    registry = ProviderRegistry(
        create_builtin_providers(db, ProviderSettings(outbox_dir=tmp_path / "outbox"), runner=runner)
    )
    foreign = {
        path.name: [url for url in action_urls(json.loads(path.read_text())) if registry.resolve(url) is None]
        for path in CORPUS_FILES
    }
    assert {name for name, urls in foreign.items() if urls} == set(NOT_EMULATED), foreign
