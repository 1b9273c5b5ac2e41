"""kerascls-train: train a classifier on an image folder (or CIFAR-10) into a run folder.

kerascls-train --data-dir photos/ --model resnet20 --epochs 30
kerascls-train --data-dir ../cifar10 --cutout 16   # the recipe of examples/cifar10.py
kerascls-train --resume            # continue the newest run where it stopped
"""

from __future__ import annotations

import argparse

from kerascls.cli.common import run_command


def add_training_flags(parser: argparse.ArgumentParser, defaults) -> None:
    """The flags shared by kerascls-train and examples/cifar10.py; `defaults` is a Recipe."""
    parser.add_argument(
        "--data-dir",
        default=defaults.data_dir,
        help="image folder with train/<class>/ (and optional validation/, test/); "
        "default: download CIFAR-10",
    )
    parser.add_argument("--model", default=defaults.model, help="a name from list_models()")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--logdir", default=defaults.logdir, help="where run folders go")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="continue an interrupted run (the newest one, or the run folder given) with "
        "its own recipe; other flags are ignored",
    )


def recipe_from_flags(args: argparse.Namespace, defaults):
    """A copy of `defaults` with the values of the flags."""
    import dataclasses

    return dataclasses.replace(
        defaults,
        data_dir=args.data_dir,
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        logdir=args.logdir,
    )


def print_next_steps(run) -> None:
    print(f"\nrun folder: {run.path}")
    print(f"see the curves:  tensorboard --logdir {run.path.parent.parent}")


def _main(argv: list[str] | None) -> int:
    from kerascls.train.recipe import Recipe

    defaults = Recipe()
    parser = argparse.ArgumentParser(prog="kerascls-train", description=__doc__.splitlines()[0])
    add_training_flags(parser, defaults)
    parser.add_argument(
        "--augment",
        default=defaults.augment,
        choices=("none", "cifar", "standard", "strong"),
        help="augmentation preset",
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
    parser.add_argument("--optimizer", default=defaults.optimizer, choices=("sgd", "adam", "adamw"))
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args(argv)
    if args.cutout < 0:
        parser.error(f"--cutout must be 0 (off) or a side in pixels, got {args.cutout}")

    import dataclasses

    from kerascls.train import fit, resume

    if args.resume:
        run = resume(None if args.resume is True else args.resume, logdir=args.logdir)
        print_next_steps(run)
        return 0
    recipe = dataclasses.replace(
        recipe_from_flags(args, defaults),
        augment=_augment_from_flags(args.augment, args.cutout),
        image_size=(args.image_size, args.image_size) if args.image_size else None,
        optimizer=args.optimizer,
        mixed_precision=args.mixed_precision,
    )
    run = fit(recipe)
    print_next_steps(run)
    return 0


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
