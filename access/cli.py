"""The ``access`` command: run, validate and demo.

Failures print one paragraph and exit non-zero; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from access.errors import InputError, install_warning_format

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="access",
        description=(
            "Service-accessibility planner: who is inside each living circle and "
            "primary-care circle, who is not, and where new facilities help most."
        ),
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--quiet", action="store_true", help="print no progress")
        sp.add_argument("--debug", action="store_true", help="show tracebacks on failure")

    run = sub.add_parser("run", help="run a study described by a scenario TOML file")
    run.add_argument("scenario", type=Path, help="scenario file (.toml)")
    run.add_argument("--out", type=Path, help="output folder (default: the scenario's [study] output)")
    run.add_argument("--lang", choices=["zh", "en"], help="language of maps and report (default: scenario)")
    run.add_argument("--offline", action="store_true", help="also write self-contained maps (no tiles, JS inlined)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="split the study by county and run the parts on a dask LocalCluster of N processes")
    run.add_argument("--scheduler", metavar="ADDR",
                     help="run the parts on an existing dask.distributed scheduler (tcp://host:8786)")
    run.add_argument("--by", choices=["county", "township"], default="county",
                     help="unit the study is split by for --workers/--scheduler (default county)")
    common(run)

    demo = sub.add_parser("demo", help="run the embedded synthetic demo county (示范县)")
    demo.add_argument("--out", type=Path, default=Path("maps/demo"), help="output folder (default maps/demo)")
    demo.add_argument("--lang", choices=["zh", "en"], help="language of maps and report")
    demo.add_argument("--offline", action="store_true", help="also write self-contained maps")
    common(demo)

    fetch = sub.add_parser("fetch", help="download real data (needs a network connection)")
    fsub = fetch.add_subparsers(dest="source", required=True, metavar="SOURCE")
    g = fsub.add_parser("geofabrik", help="a Chinese province's OSM extract from Geofabrik (resumable, md5-checked)")
    g.add_argument("province", help="province name: 福建, Fujian, fujian, or its adcode prefix 35")
    g.add_argument("--cache", type=Path, help="download folder (default ~/.cache/access-planner)")
    g.add_argument("--base-url", metavar="URL", help="mirror of Geofabrik's asia/china folder "
                   "(default $ACCESS_GEOFABRIK_URL, else https://download.geofabrik.de/asia/china)")
    common(g)
    w = fsub.add_parser("worldpop", help="a WorldPop population raster, optionally clipped to a boundary")
    w.add_argument("--iso3", default="CHN", help="country code (default CHN)")
    w.add_argument("--year", type=int, default=2020)
    w.add_argument("--variant", default="100m", help="100m | 100m_unadj | 1km | 1km_unadj | constrained")
    w.add_argument("--clip", type=Path, help="boundary file to clip to (GeoJSON/GeoPackage)")
    w.add_argument("--out", type=Path, help="clipped GeoTIFF to write (with --clip)")
    w.add_argument("--cache", type=Path, help="download folder (default ~/.cache/access-planner)")
    w.add_argument("--base-url", metavar="URL", help="mirror of WorldPop's GIS/Population folder "
                   "(default $ACCESS_WORLDPOP_URL, else https://data.worldpop.org/GIS/Population)")
    common(w)
    o = fsub.add_parser("overpass", help="a small area's roads through osmnx/Overpass, saved as GraphML")
    o.add_argument("bbox", help="west,south,east,north in degrees (WGS84)")
    o.add_argument("out", type=Path, help="GraphML file to write")
    o.add_argument("--network-type", default="all", help="osmnx network type (default all)")
    o.add_argument("--base-url", metavar="URL", help="Overpass API address, .../api "
                   "(default $ACCESS_OVERPASS_URL, else osmnx's)")
    common(o)

    val = sub.add_parser("validate", help="check a scenario and its inputs without computing")
    val.add_argument("scenario", type=Path, help="scenario file (.toml)")
    val.add_argument("--out", type=Path, help="output folder to check (default: the scenario's [study] output)")
    common(val)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``access`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    install_warning_format()
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "demo":
            return _run_compiling(_demo_scenario(args.out), args)
        return _run_compiling(args.scenario, args)
    except (InputError, FileNotFoundError, ValueError) as exc:
        if args.debug:
            raise
        print(f"access: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("access: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one paragraph, not a traceback
        if args.debug:
            raise
        print(
            f"access: unexpected {type(exc).__name__}: {exc}. Re-run with --debug for the "
            "traceback and report it with the scenario file.",
            file=sys.stderr,
        )
        return 1


def _fetch(args) -> int:
    from access.sources import download as dl

    progress = not args.quiet
    if args.source == "geofabrik":
        path = dl.geofabrik_extract(args.province, args.cache, args.base_url, progress=progress)
    elif args.source == "worldpop":
        path = dl.worldpop_raster(args.iso3, args.year, cache_dir=args.cache, variant=args.variant,
                                  base_url=args.base_url, progress=progress)
        if args.clip:
            import geopandas as gpd

            out = args.out or path.with_name(path.stem + "_clip.tif")
            path, _ = dl.clip_raster(path, gpd.read_file(args.clip), out, progress=progress)
    else:
        try:
            bbox = tuple(float(v) for v in args.bbox.split(","))
        except ValueError:
            bbox = ()
        if len(bbox) != 4:
            raise InputError(f"bbox {args.bbox!r}: give west,south,east,north in degrees, e.g. 119.2,26.0,119.4,26.1")
        path = dl.overpass_network(bbox, args.out, network_type=args.network_type, overpass_url=args.base_url,
                                   progress=progress)
    print(path)
    return 0


def _validate(args) -> int:
    from access.scenario import load_scenario

    sc = load_scenario(args.scenario)
    _checked_study(sc, Path(args.out) if args.out else sc.output, args.quiet)
    if not args.quiet:
        print(f"{args.scenario}: OK (inputs read and checked together; nothing computed or written)")
    return 0


def _output_problems(sc, out: Path) -> list[str]:
    from access.checks import output_problems
    from access.publish import check_output_folder

    problems = output_problems(out, [sc.network, sc.population, sc.facilities, sc.counties, sc.townships]).problems
    if not problems:
        try:
            check_output_folder(out, sc)
        except InputError as exc:
            problems = exc.problems
    return problems


def _checked_study(sc, out: Path, quiet: bool):
    """Every input read and checked, graphs built and points snapped, nothing routed.

    ``access validate`` and ``access run`` both come through here (run only
    when its output folder is refused, so that every problem is reported at
    once), so they report the same problems with the same words.
    """
    from access.study import Study

    problems = _output_problems(sc, out)
    try:
        study = Study.load(sc, quiet=quiet)
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems:
        raise InputError(problems)
    return study


def _demo_scenario(out: Path) -> Path:
    """The committed demo scenario, or a fresh generation when not in a checkout."""
    scenario = DEMO_DIR / "scenario.toml"
    if scenario.exists():
        return scenario
    from access.demo.synth import generate
    from access.sources.download import default_cache_dir

    # beside the cache, never inside the output folder: a run must not hold its own inputs
    inputs = default_cache_dir() / "demo"
    generate(inputs)
    return inputs / "scenario.toml"


def _run_compiling(scenario_path: Path, args) -> int:
    """:func:`_run`, with the kernels compiled ahead by a helper process when the cache is empty."""
    from access import precompile

    partitioned = getattr(args, "workers", None) or getattr(args, "scheduler", None)
    helper = None if partitioned else precompile.start(scenario_path)
    code = 1
    try:
        code = _run(scenario_path, args)
    finally:
        precompile.stop(helper, completed=code == 0 and not partitioned)
    return code


def _run(scenario_path: Path, args) -> int:
    from access.outputs import write_outputs
    from access.publish import check_output_folder, output_lock
    from access.scenario import load_scenario
    from access.study import Study

    t0 = time.perf_counter()
    sc = load_scenario(scenario_path)
    out = Path(args.out) if getattr(args, "out", None) else sc.output
    if _output_problems(sc, out):  # refused before the lock: reported with every input problem, as validate does
        _checked_study(sc, out, args.quiet)
    out = check_output_folder(out, sc)
    extra = None
    # one run per output folder, from the start: a second run fails at once; partitioned
    # runs keep their parts beside the output folder (same disk), never inside it
    with output_lock(out), tempfile.TemporaryDirectory(prefix=f".{out.name}.staging-parts-", dir=out.parent) as work:
        if getattr(args, "workers", None) or getattr(args, "scheduler", None):
            from access.scale import run_partitioned

            study, results, summary = run_partitioned(
                sc, work, workers=args.workers or 2, scheduler=args.scheduler, by=args.by, quiet=args.quiet
            )
            extra = {"partitioned": summary}
        else:
            study = Study.load(sc, quiet=args.quiet)
            results = study.run()
        files = write_outputs(
            study,
            results,
            out,
            lang=args.lang or sc.lang,
            offline=args.offline,
            quiet=args.quiet,
            extra=extra,
        )
    if not args.quiet:
        print(f"wrote {len(files)} files to {out} in {time.perf_counter() - t0:.1f} s:")
        for f in files:
            print(f"  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
