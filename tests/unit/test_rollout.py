"""Which Worker Deployment version a worker polls as: names from the contract, one build ID."""

from __future__ import annotations

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion

from orders import rollout
from orders.contract import identities
from orders.settings import WorkerSettings


def _settings(identity: identities.Identity, **extra: object) -> WorkerSettings:
    return WorkerSettings.model_validate({"identity": identity.name, **extra})


def test_a_workflow_worker_polls_as_its_identitys_deployment_pinned() -> None:
    ident = identities.ORDER_WORKFLOW
    config = rollout.deployment_config(ident, _settings(ident, worker_versioning=True))
    assert config is not None
    assert config.use_worker_versioning
    assert config.version == WorkerDeploymentVersion(ident.name, rollout.code_build_id())
    assert config.default_versioning_behavior is VersioningBehavior.PINNED


def test_the_build_id_comes_from_the_settings_when_given() -> None:
    ident = identities.ORDER_WORKFLOW
    settings = _settings(ident, worker_versioning=True, build_id="release-7")
    config = rollout.deployment_config(ident, settings)
    assert config is not None
    assert config.version.build_id == rollout.build_id(settings) == "release-7"
    assert rollout.build_id(_settings(ident)) == rollout.code_build_id()


def test_activity_workers_and_unversioned_stacks_poll_unversioned() -> None:
    notify = identities.ORDER_NOTIFY
    assert rollout.deployment_config(notify, _settings(notify, worker_versioning=True)) is None
    wf = identities.ORDER_WORKFLOW
    assert rollout.deployment_config(wf, _settings(wf)) is None


def test_the_default_build_id_names_this_source() -> None:
    build = rollout.code_build_id()
    assert build.startswith("orders-")
    assert len(build) == len("orders-") + 20
    # A deployment version's canonical form is "<deployment>.<build id>": no dot in names.
    assert all("." not in i.worker_deployment for i in identities.ALL)
