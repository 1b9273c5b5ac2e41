"""airbench94's PyTorch training step on synthetic batches: the peer of the airbench model.

    ../torchenv/bin/python benchmarks/torch_airbench_step.py [--bf16] [--steps 8]

Runs in the PyTorch venv of ../shared/bench/README.md. It imports the network, loss and
optimizer set-up of ../shared/bench/airbench94_cpu.py unchanged and times its inner loop
(forward under autocast when --bf16, summed label-smoothed loss, backward, Nesterov SGD with
the bias group, the scheduler, lookahead every 5 steps) on one random batch of 1,024
channels-last images. Prints `torch_airbench_train[_bf16]_img_s <median images/s>`, the
median over `--repeats` timed groups of `--steps` steps after one untimed group.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

PEER = Path(__file__).resolve().parents[2] / "shared" / "bench"
sys.path.insert(0, str(PEER))
import airbench94_cpu as airbench  # noqa: E402


def step_rate(bf16: bool, batch: int, steps: int, repeats: int) -> float:
    """Median images/s of airbench94's training step, in bf16 autocast or float32."""
    airbench._BF16 = bf16
    torch.manual_seed(0)
    model = airbench.make_net(10, memory_format=torch.channels_last)
    momentum, hyp = airbench.hyp["opt"]["momentum"], airbench.hyp["opt"]
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = hyp["lr"] / kilostep_scale
    wd = hyp["weight_decay"] * batch / kilostep_scale
    lr_biases = lr * hyp["bias_scaler"]
    named = list(model.named_parameters())
    norm_biases = [p for k, p in named if "norm" in k and p.requires_grad]
    others = [p for k, p in named if "norm" not in k and p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
            dict(params=others, lr=lr, weight_decay=wd / lr),
        ],
        momentum=momentum,
        nesterov=True,
    )
    lookahead = airbench.LookaheadState(model)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=hyp["label_smoothing"], reduction="none")
    inputs = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    rates, count = [], 0
    for group in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(steps):
            with airbench.autocast():
                outputs = model(inputs)
            loss = loss_fn(outputs.float(), labels).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count += 1
            if count % 5 == 0:
                lookahead.update(model, decay=0.5)
        if group:  # the first group warms the allocator and oneDNN's primitive cache
            rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bf16", action="store_true", help="the step under CPU bf16 autocast")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rate = step_rate(args.bf16, args.batch, args.steps, args.repeats)
    print(f"torch_airbench_train{'_bf16' if args.bf16 else ''}_img_s {rate:.0f}", flush=True)


if __name__ == "__main__":
    main()
