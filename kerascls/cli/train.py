"""kerascls-train: train a classifier on an image folder (or CIFAR-10) into a run folder.

kerascls-train --data-dir photos/ --model resnet20 --epochs 30
kerascls-train --data-dir photos/ --recipe fast --time-budget 15m
kerascls-train --data-dir ../cifar10 --recipe fast   # the recipe of examples/cifar10.py
kerascls-train --data-dir photos/ --folds 5         # 5-fold cross-validation
kerascls-train --resume            # continue the newest run where it stopped
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kerascls.cli.common import run_command


def add_training_flags(parser: argparse.ArgumentParser, default_recipe: str | None) -> None:
    """The flags shared by kerascls-train and examples/cifar10.py.

    `default_recipe` names the preset used without --recipe (None: `Recipe()`'s defaults).
    Every other flag defaults to the recipe's own value.
    """
    _add_recipe_flags(parser, default_recipe)
    _add_data_flags(parser)
    _add_model_flags(parser)
    _add_schedule_flags(parser)
    _add_run_flags(parser)


def _add_recipe_flags(parser: argparse.ArgumentParser, default_recipe: str | None) -> None:
    from kerascls.train.presets import RECIPES

    parser.add_argument(
        "--recipe",
        default=default_recipe,
        choices=list(RECIPES),
        help="a named recipe (kerascls/train/presets.py); the other flags change its fields; "
        "default: fast, the default Recipe() (with --model and no --recipe: the preset "
        "that suits that model)",
    )
    parser.add_argument(
        "--no-plan",
        action="store_true",
        help="train the recipe exactly as written: no image size, batch size, epochs or "
        "time cap planned for the data and this machine",
    )


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="image folder with train/<class>/ (and optional validation/, test/); "
        "default: download CIFAR-10",
    )
    parser.add_argument(
        "--validation-size",
        type=_fraction_or_count,
        metavar="N",
        help="images held out of train/ for validation when there is no validation/ or "
        "val/ folder: a fraction (0.2) or a count (500); default 10%%, at most 5000, at "
        "least one per class",
    )


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a name from list_models() (default airbench)")
    parser.add_argument(
        "--pretrained",
        nargs="?",
        const="mobilenetv3small",
        metavar="BACKBONE",
        help="fine-tune an ImageNet backbone from keras.applications (downloaded once into "
        "Keras's cache): mobilenetv3small (default), efficientnetb0 or resnet50; the head "
        "first, then the whole backbone at a lower learning rate",
    )
    parser.add_argument(
        "--init-from",
        metavar="RUN",
        help="start from an earlier kerascls run's weights (its folder), with a new head "
        "when the classes differ; the model is that run's unless --model is given",
    )
    parser.add_argument(
        "--distill-from",
        nargs="+",
        metavar="RUN",
        help="train towards the mean predictions of these finished runs (same classes, "
        "image size and held-out images) mixed with the labels",
    )
    parser.add_argument(
        "--teachers",
        type=int,
        metavar="N",
        help="train N `fast` runs of other seeds on the same data first (kept under "
        "LOGDIR/<data>/teachers/ and reused), then distill from them: about +0.6 points "
        "on CIFAR-10 for the time of N fast runs (--recipe long --teachers 3); with "
        "--time-budget they share 40%% of it",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        help="the teachers' share of each training target, in (0, 1] (default 0.5)",
    )


def _add_schedule_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs", type=int, help="default: the recipe's (10), more on a small folder"
    )
    parser.add_argument("--batch-size", type=int, help="default: planned for the data")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument(
        "--seed", type=int, help="seed of the initial weights, the shuffle and augmentation"
    )
    parser.add_argument(
        "--validation-seed",
        type=int,
        help="seed of the images held out of train/ for validation (default 0: the same "
        "images whatever --seed is)",
    )
    parser.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="train for this long (900, 15m, 1.5h) from start to evaluated run: the "
        "schedule's length is set from the speed of the first steps",
    )


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    from kerascls.train.recipe import DEFAULT_MLFLOW_URI

    parser.add_argument("--logdir", default="logs", help="where run folders go (default logs)")
    parser.add_argument("--run-name", help="the run folder's name (default: model-date-time)")
    parser.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        help="tf.distribute strategy; multiworker reads TF_CONFIG and needs the same "
        "--run-name on every worker",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="continue an interrupted run (the newest one, or the run folder given) with "
        "its own recipe; other flags are ignored",
    )
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const=DEFAULT_MLFLOW_URI,
        metavar="TRACKING_URI",
        help="also track the run in MLflow: recipe, per-epoch metrics, final metrics, "
        f"run.json, report and best.keras; default URI {DEFAULT_MLFLOW_URI} (see it with "
        "`mlflow ui`); needs pip install -e .[mlflow]",
    )
    parser.add_argument(
        "--tensorboard-images",
        action="store_true",
        help="log the validation confusion matrix and Grad-CAM overlays to TensorBoard "
        "every epoch (one extra validation pass per epoch)",
    )


def extra_callbacks(args: argparse.Namespace) -> list:
    """The callbacks that flags ask for (TensorBoard images), for fit and resume."""
    if not getattr(args, "tensorboard_images", False):
        return []
    from kerascls.viz.tensorboard import TensorBoardImages

    return [TensorBoardImages()]


_FLAG_FIELDS = (
    "data_dir",
    "validation_size",
    "model",
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "validation_seed",
    "logdir",
    "run_name",
    "strategy",
    "mlflow",
)


def _fraction_or_count(text: str) -> float | int:
    """--validation-size as a number: a whole one >= 1 as a count, checked by the one check
    of a validation_size (kerascls/data/holdout.py)."""
    from kerascls.data.holdout import check_validation_size
    from kerascls.errors import DataError

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction or a count") from None
    size = int(value) if value >= 1 and value.is_integer() else value
    try:
        check_validation_size(size)
    except DataError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return size


def _low_res_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a fraction of the image side in (0, 1], such as 0.5 (1: one size)"
        )
    return value


def recipe_from_flags(args: argparse.Namespace, **fields):
    """The recipe --recipe names, with the flags given and `fields` set.

    Without --recipe: the default recipe (`Recipe()`, the "fast" preset), or with --model
    the preset whose optimisation suits that model (`preset_for_model`): the default's
    learning rate and 64x BatchNorm-bias steps are airbench's own.
    """
    from kerascls.errors import KerasclsError
    from kerascls.train.budget import parse_duration
    from kerascls.train.recipe import Recipe

    given = {name: getattr(args, name) for name in _FLAG_FIELDS if getattr(args, name) is not None}
    if args.time_budget is not None:
        given["time_budget"] = parse_duration(args.time_budget)
    if args.no_plan:
        given["adapt_to_data"] = False
    given.update(_starting_weights(args, given.get("model")))
    if args.distill_from:  # absolute: run.json must name the same runs wherever resumed
        given["distill_from"] = tuple(str(Path(run).resolve()) for run in args.distill_from)
    if args.distill_weight is not None:
        given["distill_weight"] = args.distill_weight
    if args.teachers is not None:
        if args.distill_from:
            raise KerasclsError(
                "--teachers trains the runs to distill from; --distill-from names them: "
                "pass one of the two"
            )
        given["teachers"] = args.teachers
    given.update(fields)
    # what the user chose stays as chosen when the recipe is fitted to the data
    not_choices = ("data_dir", "logdir", "mlflow")
    given["set_by_user"] = tuple(name for name in given if name not in not_choices)
    if args.recipe:
        return Recipe.preset(args.recipe, **given)
    return Recipe.for_model(given.pop("model", Recipe().model), **given)


def _starting_weights(args: argparse.Namespace, model: str | None) -> dict:
    """The recipe fields of --pretrained and --init-from (checked before any data loads)."""
    from kerascls.errors import KerasclsError
    from kerascls.train import transfer_learning

    pretrained, init_from = args.pretrained, args.init_from
    if pretrained and init_from:
        raise KerasclsError("use --init-from RUN or --pretrained, not both")
    if pretrained:
        name = transfer_learning.pretrained_model(pretrained)
        if model and model != name:
            raise KerasclsError(
                f"--pretrained {pretrained} trains {name}; drop --model {model} or --pretrained"
            )
        backbone = name.removeprefix("transfer_")
        return {"model": name, "pretrained": backbone}
    if init_from:
        # absolute: run.json must name the same run wherever it is resumed from
        fields = {"init_from": str(Path(init_from).resolve()), "pretrained": None}
        if model:
            return fields
        source, kwargs = transfer_learning.source_model_of(init_from)
        return {**fields, "model": source, "model_kwargs": kwargs}
    return {}


def print_next_steps(run) -> None:
    print(f"\nrun folder: {run.path}")
    print(f"see the curves:  tensorboard --logdir {run.path.parent.parent}")


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.folds is not None and args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")
    if args.folds and args.resume:
        parser.error("--folds starts a new cross-validation; resume a fold with --resume FOLD")
    if args.cutout < 0:
        parser.error(f"--cutout must be 0 (off) or a side in pixels, got {args.cutout}")

    from kerascls.train import fit, resume
    from kerascls.train.runtime import process_started

    if args.resume:
        run = resume(
            None if args.resume is True else args.resume,
            logdir=args.logdir,
            callbacks=extra_callbacks(args),
        )
    else:
        recipe = recipe_from_flags(args, **_recipe_fields(args))
        if args.folds:
            from kerascls.train import cross_validate

            cross_validate(recipe, args.folds)
            return 0
        run = fit(recipe, callbacks=extra_callbacks(args), started=process_started())
    _plots_to_mlflow(run)
    print_next_steps(run)
    return 0


def _parser() -> argparse.ArgumentParser:
    """kerascls-train's flags: the shared ones, and those examples/cifar10.py sets itself."""
    parser = argparse.ArgumentParser(prog="kerascls-train", description=__doc__.splitlines()[0])
    add_training_flags(parser, None)
    parser.add_argument(
        "--augment",
        choices=("none", "cifar", "standard", "strong"),
        help="augmentation preset (default: the recipe's)",
    )
    parser.add_argument(
        "--cutout",
        type=int,
        default=0,
        metavar="PIXELS",
        help="also cut a PIXELS x PIXELS square out of every training image, as "
        "examples/cifar10.py does with 16 on 32x32 images; default 0: off",
    )
    parser.add_argument("--image-size", type=int, default=None, help="resize images to N x N")
    parser.add_argument(
        "--low-res",
        type=_low_res_scale,
        metavar="SCALE",
        help="progressive resizing: train the first half of the steps on images of SCALE "
        "times the side (e.g. 0.5: about 30%% less time, a little less accuracy), then at "
        "full size; default 1: one size throughout",
    )
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="k-fold cross-validation: one run per stratified fold under one parent "
        "folder, with accuracy and macro-F1 as mean ± std and out-of-fold predictions",
    )
    return parser


def _recipe_fields(args: argparse.Namespace) -> dict:
    """The recipe fields of kerascls-train's own flags (those beyond add_training_flags)."""
    fields = {}
    if args.augment or args.cutout:
        fields["augment"] = _augment_from_flags(args.augment or "cifar", args.cutout)
    if args.image_size:
        fields["image_size"] = (args.image_size, args.image_size)
    if args.low_res is not None:
        fields["low_res_scale"] = args.low_res
    if args.optimizer:
        fields["optimizer"] = args.optimizer
    if args.mixed_precision:
        fields["mixed_precision"] = True
    return fields


def _plots_to_mlflow(run) -> None:
    """With --mlflow: draw the curves and the confusion matrix into <run>/viz/ and add them
    to the MLflow run (training itself cannot draw: kerascls.train sits below viz)."""
    if run.info.mlflow is None or not run.info.mlflow.run_id:
        return
    from kerascls.train.tracking import log_plots
    from kerascls.viz.commands import plot_run_confusion, plot_run_curves

    try:
        log_plots(run.info, [plot_run_curves(run), plot_run_confusion(run)])
    except Exception as error:  # the run is finished and tracked; the plots are extra
        print(f"warning: MLflow: could not add the plots ({str(error).splitlines()[0]})")


def _augment_from_flags(preset: str, cutout: int) -> str | dict:
    """The preset's name, or with --cutout its settings plus the cutout (run.json-ready)."""
    if not cutout:
        return preset
    from kerascls.data import AugmentConfig

    return AugmentConfig.from_preset(preset, cutout=cutout).to_dict()


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
