"""kerascls-viz: look inside a trained classifier and its run.

kerascls-viz gradcam cat.jpg photos/      Grad-CAM overlays (newest run's best model)
kerascls-viz gradcam cat.jpg --method gradcam++ --class dog
kerascls-viz gradcam cat.jpg --method attention_rollout   a ViT run: where its attention goes
kerascls-viz featuremaps cat.jpg          channel activations, one layer per stage
kerascls-viz confusion | curves | errors | calibration     plots of a run

Every command acts on the newest run under logs/ unless given --run or --logdir, and
writes PNGs into the run's viz/ folder unless given --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kerascls.cli.common import run_command

# kerascls.viz.methods.METHODS + TRANSFORMER_METHODS, spelt out so that --help does not
# import TensorFlow
METHODS = ("gradcam", "gradcam++", "saliency", "occlusion", "attention_rollout")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default=None, help="a run folder (default: the newest run)")
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument("--out", default=None, help="output folder (default: <run>/viz)")


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files or folders of images")
    parser.add_argument(
        "--model",
        default=None,
        help="a .keras file to use instead of the run's best.keras (classes are then "
        "numbered unless --run names its run)",
    )
    _add_run_flags(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-viz",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_gradcam(commands)
    _add_featuremaps(commands)
    _add_run_plots(commands)
    return parser


def _add_gradcam(commands: argparse._SubParsersAction) -> None:
    gradcam = commands.add_parser(
        "gradcam", help="heatmap overlays: which pixels the prediction rests on"
    )
    _add_model_flags(gradcam)
    gradcam.add_argument(
        "--method",
        default="gradcam",
        choices=METHODS,
        help="default gradcam; attention_rollout for ViT models (vit_tiny, vit_small)",
    )
    gradcam.add_argument(
        "--layer", default=None, help="conv layer to explain (default: the last one)"
    )
    gradcam.add_argument(
        "--class",
        dest="target",
        default=None,
        metavar="NAME",
        help="class to explain (default: the top class)",
    )
    gradcam.add_argument("--top-k", type=int, default=3, help="top classes to print")
    gradcam.add_argument("--alpha", type=float, default=0.45, help="heatmap opacity, 0-1")


def _add_featuremaps(commands: argparse._SubParsersAction) -> None:
    features = commands.add_parser("featuremaps", help="channel activations of conv layers")
    _add_model_flags(features)
    features.add_argument(
        "--layer",
        dest="layers",
        nargs="+",
        action="extend",
        default=None,
        metavar="NAME",
        help="layers to show (default: one per stage)",
    )
    features.add_argument("--channels", type=int, default=16, help="channels per layer")


def _add_run_plots(commands: argparse._SubParsersAction) -> None:
    """confusion, curves, errors and calibration: plots of a run, no images given."""
    for name, text in (
        ("confusion", "confusion matrix from report.json, raw and row-normalised"),
        ("curves", "loss, accuracy and learning rate from history.csv"),
    ):
        _add_run_flags(commands.add_parser(name, help=text))

    errors = commands.add_parser("errors", help="the most confident mistakes on validation")
    _add_run_flags(errors)
    errors.add_argument("--count", type=int, default=16, help="mistakes to show")
    errors.add_argument("--recompute", action="store_true", help="ignore predictions.npz")

    calibration = commands.add_parser(
        "calibration", help="reliability diagram and expected calibration error"
    )
    _add_run_flags(calibration)
    calibration.add_argument("--bins", type=int, default=15, help="confidence bins")
    calibration.add_argument("--recompute", action="store_true", help="ignore predictions.npz")


def _model_and_classes(args: argparse.Namespace):
    """The model, its class names and the output folder that the flags name."""
    from kerascls.data.images import find_images
    from kerascls.runs import load_run

    find_images(args.images)  # a mistyped path fails before the model is loaded

    if args.model:
        from kerascls.models import load_model

        run = load_run(args.run) if args.run else None
        out = args.out or (run.path / "viz" if run else "viz")
        return load_model(args.model), (run.class_names if run else None), Path(out), args.model
    run = load_run(args.run, logdir=args.logdir)
    model = run.load_model("best")
    return model, run.class_names, Path(args.out or run.path / "viz"), run.checkpoint("best")


def _gradcam(args: argparse.Namespace) -> None:
    from kerascls.viz.commands import explain_files

    model, class_names, out, source = _model_and_classes(args)
    print(f"model: {source}")
    results = explain_files(
        model,
        args.images,
        class_names,
        out,
        method=args.method,
        layer=args.layer,
        target=args.target,
        top_k=args.top_k,
        alpha=args.alpha,
    )
    for result in results:
        ranked = ", ".join(f"{name} {p:.3f}" for name, p in result.top_k)
        where = f", layer {result.layer}" if result.layer else ""
        print(f"{result.image}: {ranked}")
        print(f"  {args.method} of {result.explained}{where} -> {result.output}")


def _featuremaps(args: argparse.Namespace) -> None:
    from kerascls.viz.commands import feature_map_files

    model, _, out, source = _model_and_classes(args)
    print(f"model: {source}")
    for path in feature_map_files(model, args.images, out, args.layers, args.channels):
        print(f"wrote {path}")


def _run_plot(args: argparse.Namespace) -> None:
    from kerascls.runs import load_run
    from kerascls.viz import commands

    run = load_run(args.run, logdir=args.logdir)
    print(f"run: {run.path}")
    if args.command == "confusion":
        print(f"wrote {commands.plot_run_confusion(run, args.out)}")
    elif args.command == "curves":
        print(f"wrote {commands.plot_run_curves(run, args.out)}")
    elif args.command == "errors":
        print(
            f"wrote {commands.plot_run_errors(run, args.out, args.count, recompute=args.recompute)}"
        )
    else:
        path, calibration = commands.plot_run_calibration(
            run, args.out, args.bins, recompute=args.recompute
        )
        print(
            f"expected calibration error {calibration.ece:.4f} "
            f"({args.bins} bins, {calibration.num_examples} validation images)"
        )
        print(f"wrote {path}")


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gradcam":
        _gradcam(args)
    elif args.command == "featuremaps":
        _featuremaps(args)
    else:
        _run_plot(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
