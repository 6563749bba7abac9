"""The ``rankfeed`` command line: the local stack, traffic, jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from rankfeed import offline_cli
from rankfeed.gateway.cli import gateway
from rankfeed.local.procs import StackError
from rankfeed.local.stack import Stack
from rankfeed.rerank import cli as rerank_cli
from rankfeed.settings import BUILD_DIR, JobSettings, StackSettings, load_settings
from rankfeed.site import cli as site_cli

app = typer.Typer(help="rankfeed: hotel-search user actions in, learning-to-rank signal out.", no_args_is_help=True)
local_app = typer.Typer(help="Run the local stack: a Kafka broker and a Flink cluster on loopback.")
app.add_typer(local_app, name="local")
kubernetes_app = typer.Typer(help="Generate the parts of deploy/kubernetes that come from the settings or upstream.")
app.add_typer(kubernetes_app, name="kubernetes")
console = Console()

ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file of settings values")]


def _stack(config: Path | None) -> Stack:
    return Stack(load_settings(StackSettings, config))


def _fail(error: Exception) -> None:
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(1)


@local_app.command("up")
def local_up(config: ConfigOption = None) -> None:
    """Start the Kafka broker (KRaft, formats storage on first start), create topics, start Flink.

    Idempotent: what already runs is left alone.
    """
    stack = _stack(config)
    try:
        created = stack.up()
    except StackError as error:
        _fail(error)
        return
    if created:
        console.print(f"created topics: {', '.join(created)}")
    _print_status(stack)


@local_app.command("check")
def local_check(config: ConfigOption = None) -> None:
    """Check Java 17+, Maven and free ports before anything starts (what `make demo` and `make test` run first)."""
    try:
        _stack(config).preflight()
    except StackError as error:
        _fail(error)
    console.print("ready: Java 17+, Maven and the stack's ports are in order")


@local_app.command("down")
def local_down(config: ConfigOption = None) -> None:
    """Stop the Flink cluster and the broker; data stays in the state folder for the next `up`."""
    stack = _stack(config)
    try:
        stack.down()
    except StackError as error:
        _fail(error)
    console.print("stopped")


@local_app.command("status")
def local_status(config: ConfigOption = None) -> None:
    """Show whether the broker and the cluster run, the web UI link and where the logs are."""
    _print_status(_stack(config))


def _print_status(stack: Stack) -> None:
    for name, state in stack.status().items():
        console.print(f"{name:>7}: {state}")


@app.command("submit")
def submit(
    job: Annotated[
        str, typer.Argument(help="pipeline (labelling, features and lake), or one script name in jobs/")
    ] = "pipeline",
    job_config: Annotated[Path | None, typer.Option("--job-config", help="YAML of JobSettings")] = None,
    config: ConfigOption = None,
) -> None:
    """Submit the pipeline's jobs (or jobs/<job>.py) to the local cluster with `flink run -d -py`."""
    from rankfeed import pipeline

    stack = _stack(config)
    jobs: tuple[pipeline.PipelineJob, ...] = pipeline.PIPELINE
    if job != "pipeline":
        single = pipeline.PipelineJob(job, job)
        if not single.path.exists():
            _fail(FileNotFoundError(f"no job script {single.path}"))
        jobs = (single,)
    # A second copy of a running job shares its consumer group and transactional ids: the two fence
    # each other's producers (seen to take the TaskManager down). Refuse instead.
    running = pipeline.running(stack.flink)
    already = [job for job in jobs if job.script in running]
    if already:
        names = ", ".join(f"{job.script} ({running[job.script]})" for job in already)
        _fail(
            StackError(f"already running: {names}; cancel it first (flink cancel <job-id>) or use `rankfeed reweight`")
        )
        return
    try:
        job_ids = pipeline.submit(stack.flink, job_config, jobs)
    except StackError as error:
        _fail(error)
        return
    for script_name, job_id in job_ids.items():
        console.print(f"submitted {script_name} as job {job_id}")
    console.print(f"watch them at {stack.settings.flink_url}/#/job/running")


@app.command("reweight")
def reweight(
    job_config: Annotated[
        Path | None, typer.Option("--job-config", help="YAML of the JobSettings the running job was submitted with")
    ] = None,
    method: Annotated[str, typer.Option(help="which published estimate: randomized or em")] = "randomized",
    out: Annotated[Path, typer.Option(help="folder for the table and the new job config")] = BUILD_DIR / "propensity",
    timeout: Annotated[float, typer.Option(help="seconds to wait for the topic and the savepoint")] = 30.0,
    config: ConfigOption = None,
) -> None:
    """Roll the latest θ the pipeline published into it: stop the labelling and features jobs with
    savepoints, resume them with that table.

    LTR examples labelled after the resume carry the new propensity_version and its IPS weights;
    hotel features are debiased with the same θ.
    """
    from rankfeed.reweight import TopicReadError
    from rankfeed.reweight import reweight as roll

    if method not in ("randomized", "em"):
        _fail(ValueError(f"--method must be randomized or em, not {method!r}"))
    try:
        done = roll(_stack(config), load_settings(JobSettings, job_config), method, out, None, timeout)
    except (StackError, TopicReadError, OSError) as error:
        _fail(error)
        return
    console.print(f"θ version {done.version} ({done.table})")
    for script, job_id in done.stopped_jobs.items():
        console.print(f"{script} job {job_id} stopped with savepoint {done.savepoints[script]}")
        console.print(f"  resumed as job {done.job_ids[script]} with {done.job_config}")


@app.command("simulate")
def simulate(
    sessions: Annotated[int, typer.Option(help="number of user sessions to generate")] = 300,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same traffic")] = 7,
    duplicate_share: Annotated[float, typer.Option(help="share of events sent twice")] = 0.02,
    out_of_order_share: Annotated[float, typer.Option(help="share of events sent out of order")] = 0.05,
    late_share: Annotated[float, typer.Option(help="share of events held back far beyond lateness")] = 0.0,
    rate: Annotated[float, typer.Option(help="target events per second; 0 sends as fast as possible")] = 0.0,
    topic: Annotated[str | None, typer.Option(help="Kafka topic; default the user-actions topic")] = None,
    via_gateway: Annotated[
        bool, typer.Option("--via-gateway", help="POST to the local gateway instead of producing to Kafka")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Send seeded synthetic traffic (searches, impressions, clicks, quick-backs, books…) to Kafka.

    Event times start now, so that the gateway's clock-skew and retention checks accept them.
    """
    from rankfeed import simulate as simulator
    from rankfeed.producer import make_producer, produce_actions

    settings = load_settings(StackSettings, config)
    shape = simulator.TrafficShape(
        start=datetime.now(UTC).replace(microsecond=0),
        sessions=sessions,
        seed=seed,
        duplicate_share=duplicate_share,
        out_of_order_share=out_of_order_share,
        late_share=late_share,
    )
    actions = simulator.generate(shape)
    paced = simulator.paced(actions, rate) if rate > 0 else actions
    if via_gateway:
        from rankfeed.gateway.client import send_actions
        from rankfeed.local.gateway_process import GatewayProcess

        url = GatewayProcess(settings).url
        accepted = send_actions(url, settings.gateway_api_key.get_secret_value(), list(paced))
        console.print(f"{accepted} actions accepted by the gateway at {url} ({sessions} sessions, seed {seed})")
        return
    producer = make_producer(settings.bootstrap_servers)
    with Progress(console=console) as progress:
        task = progress.add_task("sending actions", total=len(actions))
        acknowledged = produce_actions(
            producer,
            topic or settings.topics.user_actions,
            paced,
            on_progress=lambda sent: progress.update(task, completed=sent),
        )
    console.print(f"{acknowledged} actions acknowledged by Kafka ({sessions} sessions, seed {seed})")


@app.command("demo")
def demo(
    sessions: Annotated[int, typer.Option(help="number of user sessions to send")] = 300,
    config: ConfigOption = None,
) -> None:
    """Start everything, submit the pipeline's three jobs, send synthetic traffic and show what came out."""
    from rankfeed import demo as demo_run

    try:
        result = demo_run.run(_stack(config), sessions=sessions, console=console)
    except StackError as error:
        _fail(error)
        return
    if not result.clean or not result.ltr:
        _fail(RuntimeError("the job produced no output; see the Flink web UI and build/local/flink/log"))


@app.command("forget")
def forget(
    user_id: Annotated[str | None, typer.Option("--user-id", help="the user id as the site knows it")] = None,
    stored: Annotated[
        bool, typer.Option("--stored", help="USER_ID is already the stored pseudonym (as in the datasets)")
    ] = False,
    pending: Annotated[
        bool, typer.Option("--pending", help="every open request of the erasure-requests topic (HTTP ones)")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Erase one user (GDPR art. 17) from the Parquet datasets, recorded on the erasure-requests topic.

    The user's pseudonym is computed with user_id_hmac_key (RANKFEED_USER_ID_HMAC_KEY, the gateway's key).
    Topics forget the user by their retention (see the README's Privacy section).
    """
    from rankfeed.erasure import forget as erase
    from rankfeed.erasure import open_requests, stored_user_id
    from rankfeed.producer import ProduceError
    from rankfeed.settings import ErasureSettings

    if (user_id is None) == (not pending):
        _fail(ValueError("give --user-id U, or --pending for the open requests, not both"))
        return
    settings = load_settings(ErasureSettings, config)
    if user_id is not None and not stored and settings.user_id_hmac_key is None:
        _fail(
            ValueError(
                "no user_id_hmac_key (RANKFEED_USER_ID_HMAC_KEY): without the gateway's key the request would "
                "record the raw id on the compacted erasure-requests topic; set the key, or pass --stored if "
                "the gateway runs without one (it then stores ids as sent)"
            )
        )
        return
    try:
        if user_id is not None:
            pseudonyms = [user_id if stored else stored_user_id(settings, user_id)]
        else:
            pseudonyms = open_requests(settings)
            console.print(f"{len(pseudonyms)} open erasure requests")
        for pseudonym in pseudonyms:
            forgotten = erase(settings, pseudonym)
            for report in forgotten.datasets:
                console.print(
                    f"{report.dataset}: {report.rows_removed} rows removed, {report.files_rewritten} files "
                    f"rewritten, {report.files_removed} removed (of {report.files_read})"
                )
            console.print(f"erased {pseudonym}: {forgotten.rows_removed} rows from {forgotten.files_rewritten} files")
    except (ProduceError, TimeoutError, FileNotFoundError) as error:
        _fail(error)


@app.command("retention")
def retention(
    days: Annotated[int, typer.Option("--days", help="keep today's partitions and those of the days before")],
    config: ConfigOption = None,
) -> None:
    """Delete the Parquet datasets' day partitions (dt=YYYY-MM-DD) older than DAYS days."""
    from rankfeed.erasure import drop_partitions_before, oldest_day_kept
    from rankfeed.settings import ErasureSettings

    settings = load_settings(ErasureSettings, config)
    try:
        oldest = oldest_day_kept(datetime.now(UTC).date(), days)
        reports = drop_partitions_before(settings.parquet_dir, oldest)
    except (ValueError, FileNotFoundError) as error:
        _fail(error)
        return
    for report in reports:
        console.print(f"{report.dataset}: dropped {len(report.days_dropped)} days {', '.join(report.days_dropped)}")
        if report.days_in_progress:
            console.print(
                f"{report.dataset}: kept {', '.join(report.days_in_progress)}: the lake job has files in progress there"
            )
    console.print(f"kept {oldest.isoformat()} and later")


@app.command("ddl")
def ddl(schema: Annotated[str, typer.Argument(help="schema name, e.g. user_action")] = "user_action") -> None:
    """Print the Flink column definitions generated from schemas/avro/<schema>.avsc."""
    from rankfeed import schemas

    for column in schemas.flink_columns(schema):
        console.print(column, highlight=False)


@kubernetes_app.command("topics")
def kubernetes_topics(
    out: Annotated[
        Path | None, typer.Option(help="file to write; default deploy/kubernetes/base/kafka/topics.yaml")
    ] = None,
) -> None:
    """Write the Strimzi KafkaTopic resources of every topic in the settings (partitions, cleanup policy)."""
    from rankfeed import kubernetes

    path = out or kubernetes.TOPICS_FILE
    path.write_text(kubernetes.topics_manifest(), encoding="utf-8")
    console.print(f"wrote {path}")


@kubernetes_app.command("crd-schema")
def kubernetes_crd_schema(
    crd_file: Annotated[Path, typer.Argument(help="a CustomResourceDefinition YAML file (one or more CRDs)")],
    source: Annotated[str, typer.Option(help="where the file came from (repository, commit, path), for the record")],
) -> None:
    """Vendor the JSON schemas of an operator's custom resources into deploy/kubernetes/schemas."""
    from rankfeed import kubernetes

    for path in kubernetes.write_crd_schemas(crd_file, source):
        console.print(f"wrote {path}")


app.command("gateway")(gateway)
app.command("rerank")(rerank_cli.rerank)
app.command("site")(site_cli.site)
app.command("propensity")(offline_cli.estimate_propensity)
app.command("export-ltr")(offline_cli.export_ltr)
app.command("train")(offline_cli.train)
app.command("evaluate")(offline_cli.evaluate)
app.command("report")(offline_cli.report)


if __name__ == "__main__":
    app()
