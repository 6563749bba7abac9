"""Offline commands: estimate position bias, export LTR examples for LightGBM, train, evaluate, report.

Each function is a typer command registered on the main app in ``rankfeed.cli``. The heavy
libraries (LightGBM, matplotlib) are imported inside the commands, so ``rankfeed --help`` and the
stack commands stay fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rankfeed.propensity import DEFAULT_MAX_WEIGHT, DEFAULT_PRIOR_STRENGTH
from rankfeed.settings import BUILD_DIR, JobSettings, load_settings

if TYPE_CHECKING:
    from rankfeed.evaluate import Evaluation

console = Console()

ParquetDirOption = Annotated[
    Path | None,
    typer.Option(
        "--parquet-dir",
        help="the feedback job's Parquet folder (holds events/, ltr_examples/); "
        "default: parquet_dir of the job settings",
    ),
]
JobConfigOption = Annotated[Path | None, typer.Option("--job-config", help="YAML of JobSettings")]


class PropensityMethod(StrEnum):
    """How θ is estimated: from deliberately shuffled lists, or by EM from ordinary traffic."""

    randomized = "randomized"
    em = "em"


def _job_settings(job_config: Path | None) -> JobSettings:
    return load_settings(JobSettings, job_config)


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
    return typer.Exit(1)


def estimate_propensity(
    out: Annotated[Path, typer.Option("--out", help="where to write the propensity table (JSON)")] = BUILD_DIR
    / "propensity.json",
    method: Annotated[PropensityMethod, typer.Option(help="randomized lists, or EM over all lists")] = (
        PropensityMethod.randomized
    ),
    max_weight: Annotated[float, typer.Option(help="IPS weights above this are cut")] = DEFAULT_MAX_WEIGHT,
    prior_strength: Annotated[
        float, typer.Option(help="pseudo-impressions per position pulling θ towards 1/k (randomized method)")
    ] = DEFAULT_PRIOR_STRENGTH,
    parquet_dir: ParquetDirOption = None,
    job_config: JobConfigOption = None,
    from_topic: Annotated[
        bool,
        typer.Option(
            "--from-topic",
            help="take the latest θ the feedback job published for --method on the position-propensities "
            "topic (its version and max weight kept) instead of estimating from Parquet",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the topic (with --from-topic)")] = 30.0,
) -> None:
    """Estimate θ_k (examination probability by position) and write a versioned propensity table.

    Reads events/ (every impression) when present, else ltr_examples/ (biased at deep positions).
    With --from-topic, writes the stream's latest estimate instead; submit the job with that table
    as propensity_table (stop with a savepoint, resume) and its examples carry the same version.
    """
    from rankfeed.propensity import PropensityTable
    from rankfeed.report import ReportError, load_impressions
    from rankfeed.report import estimate_propensity as estimate
    from rankfeed.reweight import TopicReadError, latest_published_propensities

    if from_topic:
        settings = _job_settings(job_config)
        try:
            published = latest_published_propensities(settings, timeout)
            if method.value not in published:
                raise ValueError(
                    f"no {method.value} record on {settings.topics.position_propensities} "
                    f"({settings.kafka.bootstrap_servers}) within {timeout:g} s; methods there: "
                    f"{sorted(published) or 'none'}. Is the feedback job running, and has event time "
                    f"passed a propensity window ({settings.propensity_emit_interval_seconds:g} s)?"
                )
            table = PropensityTable.from_published(published[method.value])
        except (TopicReadError, ValueError) as error:
            raise _fail(error) from error
        table.save(out)
        theta = ", ".join(f"{value:.3f}" for value in table.theta[:10])
        console.print(f"wrote {out}: version {table.version}, from the topic {settings.topics.position_propensities}")
        console.print(f"θ_1..θ_{min(10, len(table.theta))}: {theta}", highlight=False)
        return
    try:
        impressions = load_impressions(parquet_dir or _job_settings(job_config).parquet_dir)
        table = estimate(impressions, method.value, prior_strength=prior_strength, max_weight=max_weight)
    except (ReportError, ValueError) as error:
        raise _fail(error) from error
    table.save(out)
    theta = ", ".join(f"{value:.3f}" for value in table.theta[:10])
    used = "randomized impressions" if table.method == "randomized" else "impressions"
    console.print(f"wrote {out}: version {table.version}, from {table.impressions:,} {used} of {impressions.source}/")
    console.print(f"θ_1..θ_{min(10, len(table.theta))}: {theta}", highlight=False)


def export_ltr(
    out: Annotated[Path, typer.Option("--out", help="export folder (created)")] = BUILD_DIR / "ltr-export",
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="feature column, repeatable; default: price, rating and their in-list ranks"),
    ] = None,
    weight: Annotated[
        str, typer.Option(help="column to use as example weight, or 'none' for no weight file")
    ] = "ips_weight",
    propensity: Annotated[
        Path | None, typer.Option("--propensity", help="propensity table (JSON) to weight clicks with 1/θ_k instead")
    ] = None,
    model_features: Annotated[
        bool,
        typer.Option(
            "--model-features",
            help="export the served model's features instead of --feature columns: given position, price, rating "
            "and the hotel's features from hotel_features/ as they were just before each search",
        ),
    ] = False,
    parquet_dir: ParquetDirOption = None,
    job_config: JobConfigOption = None,
) -> None:
    """Export ltr_examples/ as LightGBM lambdarank input: ltr.csv with .query and .weight side files."""
    from rankfeed.export import DEFAULT_FEATURES, ExportError
    from rankfeed.export import export_ltr as export
    from rankfeed.propensity import PropensityTable

    settings = _job_settings(job_config)
    try:
        table = PropensityTable.load(propensity) if propensity is not None else None
        result = export(
            parquet_dir or settings.parquet_dir,
            out,
            features=feature or DEFAULT_FEATURES,
            weight=None if weight.lower() == "none" else weight,
            propensity=table,
            labels=settings.labels,
            model_features=model_features,
        )
    except (ExportError, FileNotFoundError, ValueError) as error:
        raise _fail(error) from error
    console.print(
        f"wrote {result.rows:,} examples in {len(result.group_sizes):,} result lists to {out} "
        f"(features: {', '.join(result.features)}; weights: {result.weight_source or 'none'})",
        highlight=False,
    )


def train(
    export_dir: Annotated[Path, typer.Argument(help="folder written by `rankfeed export-ltr`")],
    holdout_fraction: Annotated[float, typer.Option(help="share of result lists held out for NDCG")] = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the split and of LightGBM")] = 7,
    rounds: Annotated[int, typer.Option(help="boosting rounds")] = 200,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="train on this exported feature only, repeatable; default all")
    ] = None,
    models: Annotated[
        Path,
        typer.Option(help="each model is written to <models>/<version>/ (model.txt, features.json, metadata.json)"),
    ] = BUILD_DIR / "models",
) -> None:
    """Train LambdaMART with and without IPS weights; print NDCG@10 on held-out result lists.

    Both models see the same split; the logged (production) order is scored too, as the baseline.
    Each model is saved as a versioned folder that `rankfeed rerank --model` serves and
    `rankfeed evaluate --model` evaluates.
    """
    from rankfeed.export import ExportError, read_manifest
    from rankfeed.train import TrainResult, train_lambdamart

    results: list[TrainResult] = []
    try:
        has_weights = read_manifest(export_dir)["weight_file"] is not None
        for use_ips in (False, True) if has_weights else (False,):
            results.append(
                train_lambdamart(
                    export_dir, holdout_fraction, seed, use_ips, rounds, models_dir=models, features=feature
                )
            )
    except (ExportError, ValueError) as error:
        raise _fail(error) from error
    first = results[0]
    table = Table(title=f"held-out NDCG@10 over {first.evaluated_lists:,} of {first.holdout_lists:,} result lists")
    for column in ("ranking", "NDCG@10 (logged labels)", "IPS-NDCG@10"):
        table.add_column(column)
    table.add_row("logged order", f"{first.logged_order_ndcg_at_10:.4f}", f"{first.logged_order_ips_ndcg_at_10:.4f}")
    for result in results:
        label = "LambdaMART + IPS" if result.use_ips else "LambdaMART"
        table.add_row(label, f"{result.ndcg_at_10:.4f}", f"{result.ips_ndcg_at_10:.4f}")
    console.print(table)
    if not has_weights:
        console.print("the export has no weight file: trained without IPS only")
    elif results[-1].uniform_weights:
        console.print("every weight is equal: the IPS model is the plain model; export with --propensity")
    for result in results:
        console.print(f"model {result.artifact_dir}", highlight=False)


def report(
    out: Annotated[Path, typer.Option("--out", help="report folder (created)")] = BUILD_DIR / "report",
    bootstrap: Annotated[int, typer.Option(help="bootstrap replicates for the θ band")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="a model folder from `rankfeed train`: add its offline evaluation"),
    ] = None,
    parquet_dir: ParquetDirOption = None,
    job_config: JobConfigOption = None,
) -> None:
    """Write an HTML report (index.html + PNGs): CTR and θ by position, labels, dwell, quick-backs.

    With --model, also the model's offline evaluation (`rankfeed evaluate`) with the θ estimated here.
    """
    from rankfeed.export import ExportError
    from rankfeed.model import ModelArtifact, ModelError
    from rankfeed.report import ReportError, write_report

    settings = _job_settings(job_config)
    try:
        written = write_report(
            parquet_dir or settings.parquet_dir,
            out,
            bootstrap_replicates=bootstrap,
            seed=seed,
            quick_back_threshold_seconds=settings.quick_back_threshold_seconds,
            model=ModelArtifact.load(model) if model is not None else None,
        )
    except (ExportError, ReportError, ModelError, ValueError) as error:
        raise _fail(error) from error
    console.print(
        f"wrote {written.index_path} ({len(written.plots)} plots, impressions from {written.impressions_source})"
    )
    if written.evaluation is not None:
        console.print(evaluation_table(written.evaluation))


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="a model folder written by `rankfeed train`")],
    propensity: Annotated[
        Path, typer.Option("--propensity", help="propensity table (JSON) from `rankfeed propensity`: θ_k")
    ] = BUILD_DIR / "propensity.json",
    k: Annotated[int, typer.Option(help="cut-off of clicks@k and bookings@k")] = 10,
    max_weight: Annotated[
        float | None, typer.Option(help="clip 1/θ at this; default: the propensity table's max_weight")
    ] = None,
    searches: Annotated[
        str, typer.Option(help="holdout (the searches the model's training held out) or all")
    ] = "holdout",
    bootstrap: Annotated[int, typer.Option(help="bootstrap replicates of the 95% intervals")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="also write the result as JSON here")] = None,
    parquet_dir: ParquetDirOption = None,
    job_config: JobConfigOption = None,
) -> None:
    """Estimate offline what --model would have achieved on the logged searches: clicks@k and bookings@k.

    IPS and self-normalized IPS under the position-based model (θ from --propensity), clipped,
    with 95% bootstrap intervals, beside the logging policy's observed value.
    """
    import json

    from rankfeed.evaluate import evaluate_model
    from rankfeed.export import ExportError
    from rankfeed.model import ModelArtifact, ModelError
    from rankfeed.propensity import PropensityTable

    if searches not in ("holdout", "all"):
        raise _fail(ValueError(f"--searches must be holdout or all, not {searches!r}"))
    try:
        result = evaluate_model(
            parquet_dir or _job_settings(job_config).parquet_dir,
            ModelArtifact.load(model),
            PropensityTable.load(propensity),
            k=k,
            max_weight=max_weight,
            which_searches="holdout" if searches == "holdout" else "all",
            replicates=bootstrap,
            seed=seed,
        )
    except (ExportError, ModelError, FileNotFoundError, ValueError) as error:
        raise _fail(error) from error
    console.print(evaluation_table(result))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {out}")


def evaluation_table(result: Evaluation) -> Table:
    """The estimates as a table: one row per metric, the logged order's value beside the model's."""
    title = (
        f"model {result.model_version} on {result.searches:,} {result.which_searches} searches "
        f"(θ {result.propensity_version}, clip {result.max_weight:g}): per search, 95% intervals"
    )
    table = Table(title=title)
    for column in ("metric", "logged order", "model: IPS", "model: SNIPS"):
        table.add_column(column)
    for estimate in result.estimates:
        table.add_row(
            estimate.metric,
            *(
                f"{value.estimate:.4f} [{value.low:.4f}, {value.high:.4f}]"
                for value in (estimate.logged, estimate.ips, estimate.snips)
            ),
        )
    return table
