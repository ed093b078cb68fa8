"""Fixed credentials, ids and seeded dataflows of the emulator.

Everything here is plain data with no third-party import, so that docs, examples and tests can
name the seeded flows without starting (or even importing) the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
ORG_ID = "EMULATOR0000000000000000@AdobeOrg"
SANDBOX = "prod"
KNOWN_SANDBOXES: tuple[str, ...] = ("prod", "dev")
#: The client id recorded (``createdBy`` / ``createdClient``) on runs started from the AEP UI: the
#: Experience Cloud shell's IMS client. The default of ``add_run``.
UI_CLIENT_ID = "exc_app"
#: The client id recorded on the runs a flow's schedule starts. Adobe does not document which
#: identity its scheduler records; this one is the emulator's and says what made the run.
SCHEDULER_CLIENT_ID = "acp_flow_scheduler"

FLOW_SERVICE_PREFIX = "/data/foundation/flowservice"
IMS_TOKEN_PATH = "/ims/token/v3"

TABLE_FLOW_SPEC_ID = "14518937-270c-4525-bdec-c2ba7cce3860"
FILE_FLOW_SPEC_ID = "9753525b-82c7-4dce-8a9b-5ccfce2b9876"
FLOW_SPEC_NAMES = {TABLE_FLOW_SPEC_ID: "CRMToAEP", FILE_FLOW_SPEC_ID: "CloudStorageToAEP"}

TABLE_FLOW_ID = "c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01"
FILE_FLOW_ID = "f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02"
FAILING_FLOW_ID = "fa11ed00-7e2b-4c6d-8f90-1a2b3c4d5e03"
ROW_ERRORS_FLOW_ID = "0e770125-8c1d-4b2a-9e3f-5a6b7c8d9e04"
RECURRING_FLOW_ID = "da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05"
DISABLED_FLOW_ID = "d15ab1ed-4a5b-4c6d-9e7f-8a9b0c1d2e06"
#: The flow id printed in Adobe's on-demand ingestion tutorial, so its requests work verbatim.
TUTORIAL_FLOW_ID = "3abea21c-7e36-4be1-bec1-d3bad0e3e0de"

#: Columns of every synthetic source table. ``DOB`` is there because Adobe's tutorial sends it.
TABLE_COLUMNS: tuple[str, ...] = ("id", "email", "DOB", "updated_at")

FLOW_KINDS: tuple[str, ...] = ("table", "file")
#: ``scheduleParams.frequency`` values; only ``once`` flows accept on-demand runs.
FREQUENCIES: tuple[str, ...] = ("once", "minute", "hour", "day", "week")
OUTCOMES: tuple[str, ...] = ("success", "failed", "partial")

#: Seconds between two rows of a synthetic table / two files of a synthetic bucket.
ROW_INTERVAL_SECONDS = 36
FILE_INTERVAL_SECONDS = 900


@dataclass(frozen=True)
class FlowDefinition:
    """A dataflow as seeded (or added): what it reads and how its runs behave.

    :param flow_id: the dataflow id.
    :param name: display name.
    :param kind: ``"table"`` (CRM-like, needs a delta column) or ``"file"`` (cloud storage).
    :param frequency: ``scheduleParams.frequency``; only ``"once"`` accepts on-demand runs.
    :param state: ``"enabled"`` or ``"disabled"``.
    :param delta_column: delta column already stored in the flow's ``Copy`` transformation.
    :param columns: columns of the source table (table flows only).
    :param outcome: how runs end: ``"success"``, ``"failed"`` or ``"partial"``.
    :param duration: seconds a run stays ``inProgress``; None uses the emulator-wide default.
    :param fail_first: the flow's first N run executions fail whatever the outcome.
    :param interval: ``scheduleParams.interval``: a recurring flow runs every ``interval``
        ``frequency`` units (ignored for ``once``).
    """

    flow_id: str
    name: str
    kind: str
    frequency: str = "once"
    state: str = "enabled"
    delta_column: str | None = None
    columns: tuple[str, ...] = field(default=TABLE_COLUMNS)
    outcome: str = "success"
    duration: float | None = None
    fail_first: int = 0
    interval: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FLOW_KINDS:
            raise ValueError(f"kind must be one of {FLOW_KINDS}, got {self.kind!r}")
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"frequency must be one of {FREQUENCIES}, got {self.frequency!r}")
        if isinstance(self.interval, bool) or not isinstance(self.interval, int) or self.interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {self.interval!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.state not in ("enabled", "disabled"):
            raise ValueError(f"state must be 'enabled' or 'disabled', got {self.state!r}")

    @property
    def flow_spec_id(self) -> str:
        """The flow spec: CRMToAEP for table flows, CloudStorageToAEP for file flows."""
        return TABLE_FLOW_SPEC_ID if self.kind == "table" else FILE_FLOW_SPEC_ID


SEEDED_FLOWS: tuple[FlowDefinition, ...] = (
    FlowDefinition(TABLE_FLOW_ID, "Emulator CRM contacts (table, once)", "table"),
    FlowDefinition(FILE_FLOW_ID, "Emulator cloud storage drops (file, once)", "file", columns=()),
    FlowDefinition(
        FAILING_FLOW_ID,
        "Emulator CRM orders (table, runs fail)",
        "table",
        delta_column="updated_at",
        outcome="failed",
    ),
    FlowDefinition(
        ROW_ERRORS_FLOW_ID,
        "Emulator cloud storage events (file, row errors)",
        "file",
        columns=(),
        outcome="partial",
    ),
    FlowDefinition(RECURRING_FLOW_ID, "Emulator CRM daily sync (table, day)", "table", frequency="day"),
    FlowDefinition(DISABLED_FLOW_ID, "Emulator CRM archive (table, disabled)", "table", state="disabled"),
    FlowDefinition(TUTORIAL_FLOW_ID, "Adobe tutorial flow (table)", "table", delta_column="DOB"),
)

SEEDED_FLOW_IDS: dict[str, str] = {
    "table": TABLE_FLOW_ID,
    "file": FILE_FLOW_ID,
    "failing": FAILING_FLOW_ID,
    "row_errors": ROW_ERRORS_FLOW_ID,
    "recurring": RECURRING_FLOW_ID,
    "disabled": DISABLED_FLOW_ID,
    "tutorial": TUTORIAL_FLOW_ID,
}
