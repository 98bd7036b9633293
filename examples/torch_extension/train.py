# SPDX-License-Identifier: MIT
"""A short PyTorch training loop with sigfuse inside it: a one-hidden-layer network on the
Wisconsin breast cancer data whose activation is sigfuse_torch.silu and whose loss is
sigfuse_torch.bce_with_logits (with pos_weight), trained step for step beside a twin built
from F.silu and F.binary_cross_entropy_with_logits, from the same initial weights on the
same batches. Fails (exit 1) if the two runs' losses part by more than --max-loss-gap or
the sigfuse model's test accuracy stays below --min-accuracy.

    python train.py --data breast_cancer.csv [--device cpu|cuda] [--epochs 30]

The device is sigfuse's backend (CPU tensors go to the reference, CUDA tensors to the
CUDA backend; OpenCL has no PyTorch tensors to take).

The CSV is scikit-learn's copy (examples/breast_cancer/get_data.sh fetches it): a header
"569,30,malignant,benign", then 30 features and the class (0 malignant, 1 benign) a line.
Malignant is the positive class here.
"""
import argparse
import csv
import os
import sys
import time

import torch
import torch.nn.functional as F

import sigfuse_torch as S


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    n, d = int(header[0]), int(header[1])
    if len(body) != n or any(len(r) != d + 1 for r in body):
        raise SystemExit(f"{path}: expected {n} rows of {d} features and a class")
    x = torch.tensor([[float(v) for v in r[:d]] for r in body], dtype=torch.float64)
    malignant = torch.tensor([1.0 - float(r[d]) for r in body], dtype=torch.float64)
    return x, malignant


class Net(torch.nn.Module):
    def __init__(self, features, hidden, act):
        super().__init__()
        self.hidden = torch.nn.Linear(features, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        self.act = act

    def forward(self, x):
        return self.out(self.act(self.hidden(x))).squeeze(-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="breast_cancer.csv")
    default_device = os.environ.get("SIGFUSE_BACKEND") or ("cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--device", default=default_device, choices=["cpu", "cuda"],
                    help="where the tensors live, and so sigfuse's backend: cpu (the reference) or cuda "
                         "(default: SIGFUSE_BACKEND, else cuda when PyTorch sees a GPU, else cpu)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--min-accuracy", type=float, default=0.94)
    ap.add_argument("--max-loss-gap", type=float, default=1e-4,
                    help="largest |epoch loss (sigfuse) - epoch loss (PyTorch)| allowed")
    args = ap.parse_args()
    if args.device not in ("cpu", "cuda"):   # a default from SIGFUSE_BACKEND is not checked by choices
        ap.error(f"device {args.device!r}: sigfuse_torch takes PyTorch's cpu and cuda tensors only")
    dev = torch.device(args.device)

    x, y = load(args.data)
    g = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(y), generator=g)
    n_test = len(y) // 5
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    x = ((x - mean) / std).float().to(dev)        # standardised with the training split's statistics
    y = y.float().to(dev)
    positives = y[train].sum().item()
    pos_weight = torch.tensor([(len(train) - positives) / positives], device=dev)
    print(f"sigfuse {S.sigfuse_version()} through sigfuse_torch on {dev}; PyTorch {torch.__version__}")
    print(f"{len(train)} train / {n_test} test patients, pos_weight {pos_weight.item():.3f} "
          f"(benign / malignant in the training split)")

    torch.manual_seed(args.seed)
    fused = Net(x.shape[1], args.hidden, S.silu).to(dev)
    plain = Net(x.shape[1], args.hidden, F.silu).to(dev)
    plain.load_state_dict(fused.state_dict())     # the twins start from the same weights
    runs = [
        ("sigfuse", fused, lambda z, t: S.bce_with_logits(z, t, pos_weight=pos_weight)),
        ("PyTorch", plain, lambda z, t: F.binary_cross_entropy_with_logits(z, t, pos_weight=pos_weight)),
    ]
    opts = [torch.optim.Adam(m.parameters(), lr=args.lr) for _, m, _ in runs]

    gap = 0.0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        perm = train[torch.randperm(len(train), generator=g)].to(dev)
        sums = [0.0, 0.0]
        for first in range(0, len(perm), args.batch):
            idx = perm[first:first + args.batch]
            for k, ((_, model, loss_fn), opt) in enumerate(zip(runs, opts)):
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                sums[k] += loss.item() * len(idx)
        means = [s / len(perm) for s in sums]
        gap = max(gap, abs(means[0] - means[1]))
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}: train loss sigfuse {means[0]:.6f}  PyTorch {means[1]:.6f}")
    seconds = time.perf_counter() - start

    with torch.no_grad():
        prob = torch.sigmoid(fused(x[test]))
        test_loss = S.bce_with_logits(fused(x[test]), y[test], pos_weight=pos_weight).item()
    correct = int(((prob > 0.5).float() == y[test]).sum().item())
    accuracy = correct / n_test
    print(f"test: accuracy {accuracy:.3f} ({correct}/{n_test}), loss {test_loss:.4f}; "
          f"largest epoch-loss gap to PyTorch {gap:.2e}; {seconds:.1f} s for both runs")
    for i in range(0, n_test, max(1, n_test // 5)):
        p = test[i].item()
        label = "malignant" if y[test[i]].item() == 1 else "benign"
        print(f"  patient {p}: {prob[i].item():.3f} ({label})")

    ok = accuracy >= args.min_accuracy and gap <= args.max_loss_gap
    if accuracy < args.min_accuracy:
        print(f"FAIL: test accuracy {accuracy:.3f} is below {args.min_accuracy}")
    if gap > args.max_loss_gap:
        print(f"FAIL: sigfuse's and PyTorch's losses parted by {gap:.2e} > {args.max_loss_gap}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
